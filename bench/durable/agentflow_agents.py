"""agentflow's agents for the durable bench.

``THROUGHPUT`` is the very agent of ``bench/agentflow_bench.py`` (FunctionModel, the three tools,
the ``known_flight`` precondition on ``book_flight``). ``APPROVAL`` is the same conversation with
a ``book_flight`` that needs bob's approval; its body records when it ran, per conversation, on
``CLOCK_MONOTONIC`` so that the orchestrator can compare with its own clock.
"""

from __future__ import annotations

import collections
from typing import Any

from agentflow import Agent, NeedsApproval, RunContext, precondition, tool
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


APPROVAL: Agent[Any] = Agent(
    _forgetful(FunctionModel(agentflow_bench.fake_model)),
    tools=[agentflow_bench.search_flights, agentflow_bench.check_policy, book_flight_approved],
    name="booker-approval",
)
