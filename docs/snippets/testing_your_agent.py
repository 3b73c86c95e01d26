"""Your own agent, tested offline: TestModel calls its tools, real models are blocked."""

import asyncio
from decimal import Decimal

from agentflow import Agent, Allow, NeedsApproval, RunContext, precondition, tool
from agentflow.testing import TestModel, block_model_requests

refunded: list[Decimal] = []


@precondition
def small_or_approved(ctx: RunContext[None], args) -> Allow | NeedsApproval:
    """Refunds above 100 EUR need a team lead's approval."""
    if args.amount > 100:
        return NeedsApproval(f"refund of {args.amount} EUR is above 100 EUR", approvers=["lee"])
    return Allow()


@tool(requires=small_or_approved, side_effects=True)
def refund(order: str, amount: Decimal) -> str:
    """Refund an order."""
    refunded.append(amount)
    return f"refunded {amount} EUR on {order}"


async def main() -> None:
    with block_model_requests():  # a real model here would fail at once
        model = TestModel(arguments={"refund": {"order": "A-17", "amount": "40"}})
        done = await Agent(model, tools=[refund]).run("refund A-17", user="sam")
        print(done.status, "-", done.output)

        model = TestModel(arguments={"refund": {"order": "A-18", "amount": "400"}})
        paused = await Agent(model, tools=[refund]).run("refund A-18", user="sam")
        print(paused.status, "-", paused.pending_approvals[0].reasons[0])
    assert refunded == [Decimal("40")]


asyncio.run(main())
