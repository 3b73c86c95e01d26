"""TestModel drives one's own agent offline; block_model_requests stops a real model."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from agentflow import Agent, Allow, ConfigurationError, Deny, RunContext, precondition, tool
from agentflow.messages import ToolResultBlock
from agentflow.models.anthropic import AnthropicModel
from agentflow.testing import TestModel, block_model_requests, example_arguments


class Address(BaseModel):
    city: str
    postcode: Annotated[str, Field(pattern=r"^[0-9]{4,5}$")] = "8000"


@tool
def ship(
    order: Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
    quantity: Annotated[int, Field(ge=2)],
    amount: Decimal,
    day: date,
    mode: Literal["post", "courier"],
    to: Address,
    tags: list[str],
    note: str | None = None,
) -> str:
    """Ship an order."""
    return f"shipped {quantity}x{order} by {mode} to {to.city} on {day}"


def test_generated_arguments_validate_against_the_tool() -> None:
    arguments = example_arguments(ship.definition)
    assert "note" not in arguments  # optional: left out
    validated: Any = ship.validate(arguments)
    assert validated.order == "AAA" and validated.quantity == 2 and validated.mode == "post"


@precondition
def small(ctx: RunContext[None], args: Any) -> Allow | Deny:
    """At most 1 item."""
    return Allow() if args.quantity <= 1 else Deny("more than 1 item")


@tool(requires=small, side_effects=True)
def order_more(quantity: int) -> str:
    return "ordered"


async def test_the_agent_runs_end_to_end_with_its_tools_and_rules() -> None:
    model = TestModel(arguments={"order_more": {"quantity": 5}})
    result = await Agent(model, tools=[ship, order_more]).run("go")
    assert result.status == "completed"
    results = [b for b in result.messages[2].content if isinstance(b, ToolResultBlock)]
    assert results[0].content.startswith("shipped 2xAAA by post")
    assert results[1].is_error and "more than 1 item" in results[1].content
    assert "shipped" in result.output


async def test_only_the_named_tools_are_called() -> None:
    model = TestModel(call_tools=["order_more"], text="fine")
    result = await Agent(model, tools=[ship, order_more]).run("go")
    assert result.output == "fine"
    assert [c.name for c in result.messages[1].tool_calls] == ["order_more"]
    with pytest.raises(ValueError, match="no tool nope"):
        await Agent(TestModel(call_tools=["nope"]), tools=[ship]).run("go")


async def test_a_real_model_request_fails_at_once_when_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = AnthropicModel("claude-test", api_key="never-used", base_url="http://127.0.0.1:9")
    with block_model_requests(), pytest.raises(ConfigurationError, match="was blocked"):
        await Agent(model).run("hi")
    monkeypatch.setenv("AGENTFLOW_ALLOW_MODEL_REQUESTS", "0")
    with pytest.raises(ConfigurationError, match="was blocked"):
        await Agent(model).run("hi")
    with block_model_requests():  # test doubles are never blocked
        assert (await Agent(TestModel()).run("hi")).output == "done"
