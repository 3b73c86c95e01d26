"""A tool that takes one pydantic model, rules typed against it, and a tool from a JSON schema."""

import asyncio
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentflow import Agent, Allow, Decision, Deny, RunContext, Tool, precondition, tool
from agentflow.testing import ScriptedModel, tool_call


# --8<-- [start:model]
class ExpenseClaim(BaseModel):
    model_config = ConfigDict(extra="forbid")  # unknown fields are refused, as for @tool

    employee: str
    amount: Decimal = Field(gt=0, description="in EUR")
    category: Literal["travel", "meals", "equipment"]


@precondition
def within_limit(ctx: RunContext[None], args: ExpenseClaim) -> Decision:
    """Claims above 500 EUR go through finance, not this agent."""
    if args.amount > 500:  # a typo such as args.amout is a type error, not a silent pass
        return Deny(f"{args.amount} EUR is above the 500 EUR limit")
    return Allow()


@tool(args_model=ExpenseClaim, requires=within_limit, side_effects=True)
def file_claim(claim: ExpenseClaim) -> str:
    """File an expense claim for an employee."""
    return f"filed {claim.amount} EUR of {claim.category} for {claim.employee}"


# --8<-- [end:model]

# --8<-- [start:schema]
ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "order": {"type": "string", "pattern": "^PO-[0-9]+$"},
        "lines": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["order", "lines"],
    "additionalProperties": False,
}


def place_order(arguments: dict[str, Any]) -> str:
    return f"ordered {len(arguments['lines'])} line(s) on {arguments['order']}"


order_tool = Tool.from_schema(
    "place_order", ORDER_SCHEMA, place_order, description="Order office supplies."
)
# --8<-- [end:schema]


async def main() -> None:
    print(file_claim.definition.input_schema["required"])
    model = ScriptedModel(
        [
            tool_call("file_claim", employee="sam", amount="-3", category="meals"),
            tool_call("file_claim", employee="sam", amount="900", category="travel"),
            tool_call("file_claim", employee="sam", amount="42.50", category="meals"),
            tool_call("place_order", order="PO-7", lines=[]),
            tool_call("place_order", order="PO-7", lines=["stapler"]),
            "Done.",
        ]
    )
    result = await Agent(model, tools=[file_claim, order_tool]).run("file and order")
    for message in result.messages:
        for block in message.content:
            if block.type == "tool_result":
                shown = " ".join(block.content.splitlines()[:2])
                print("error:" if block.is_error else "ok:", shown)


asyncio.run(main())
