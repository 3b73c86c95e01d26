"""agentflow's agents for the durable bench.

``THROUGHPUT`` is the very agent of ``bench/agentflow_bench.py`` (FunctionModel, the three tools,
the ``known_flight`` precondition on ``book_flight``). ``APPROVAL`` has a ``book_flight`` that
needs bob's approval, and a model that asks for it at once (the search and the policy check
before it do not change how a conversation waits, only how long it takes to get there): one
model call, the approval, the booking, one model call for the answer. The booking records when
it ran, per conversation, on ``CLOCK_MONOTONIC`` so that the orchestrator can compare with its
own clock.
"""

from __future__ import annotations

import collections
from typing import Any

from agentflow import Agent, NeedsApproval, RunContext, precondition, tool
from agentflow.messages import ModelRequest, ModelResponse, TextBlock, ToolUseBlock
from agentflow.testing import FunctionModel
from bench import agentflow_bench, harness
from bench.durable.common import monotonic_ns

METER = harness.METER


def _forgetful(model: FunctionModel) -> FunctionModel:
    # FunctionModel keeps every request it was sent (for assertions in tests); a long-running
    # worker would otherwise grow by each conversation's messages, which no real model does.
    model.requests = collections.deque(maxlen=0)  # type: ignore[assignment]
    return model


THROUGHPUT: Agent[Any] = agentflow_bench.AGENT
THROUGHPUT.model = _forgetful(THROUGHPUT.model)  # type: ignore[arg-type]

BOOKED_AT: dict[str, int] = {}
"""conversation id -> CLOCK_MONOTONIC ns at which its booking ran (once approved)."""


@precondition
def needs_bob(ctx: RunContext[None], args: Any) -> NeedsApproval:
    """Every booking needs bob's approval."""
    return NeedsApproval(f"booking {args.flight_id} needs approval", approvers=["bob"])


@tool(name="book_flight", requires=needs_bob, side_effects=True)
async def book_flight_approved(ctx: RunContext[None], flight_id: str) -> dict[str, Any]:
    """Book a flight."""
    BOOKED_AT.setdefault(ctx.conversation_id, monotonic_ns())
    out = harness.book_flight(flight_id)
    METER.tool_calls += 1
    return out


APPROVAL_MODEL_CALLS = (1, 1)
"""Model calls of an approval conversation: before it waits, and after its approval."""


def book_at_once(request: ModelRequest) -> ModelResponse:
    """Ask for the booking first; answer once it has a result."""
    METER.model_calls += 1
    booked = any(
        b.type == "tool_result" and not b.is_error for m in request.messages for b in m.content
    )
    if booked:
        return ModelResponse(
            content=(TextBlock(text=harness.FINAL_TEXT),), usage=agentflow_bench.USAGE
        )
    name, arguments = harness.SCRIPT[-1]
    return ModelResponse(
        content=(ToolUseBlock(id="call_0", name=name, input=dict(arguments)),),
        stop_reason="tool_use",
        usage=agentflow_bench.USAGE,
    )


APPROVAL: Agent[Any] = Agent(
    _forgetful(FunctionModel(book_at_once)),
    tools=[book_flight_approved],
    name="booker-approval",
)
