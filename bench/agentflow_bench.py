"""agentflow on the shared conversation, with argument validation and a precondition on.

``--provenance`` adds a provenance rule to the booking (its flight must come from the search,
a trusted tool): the cost of tracing arguments against the transcript on every call it guards.
"""

from __future__ import annotations

import time

_t0 = time.perf_counter()
import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import agentflow  # noqa: E402
from agentflow import (  # noqa: E402
    Agent,
    Allow,
    Deny,
    RunContext,
    from_trusted_sources,
    precondition,
    tool,
)
from agentflow.messages import ModelRequest, ModelResponse, TextBlock, ToolUseBlock, Usage  # noqa: E402
from agentflow.testing import FunctionModel  # noqa: E402

IMPORT_S = time.perf_counter() - _t0
VERSION = agentflow.__version__

from time import perf_counter_ns  # noqa: E402

from bench import harness  # noqa: E402

PROVENANCE = "--provenance" in sys.argv[1:]
METER = harness.METER
USAGE = Usage(input_tokens=harness.USAGE_IN, output_tokens=harness.USAGE_OUT)


@precondition
def known_flight(ctx: RunContext[None], args: Any) -> Allow | Deny:
    """Only flights returned by a search can be booked."""
    return Allow() if args.flight_id.startswith("LX") else Deny("unknown flight")


@tool(trusted_output=True)
async def search_flights(origin: str, dest: str, date: str) -> list[dict[str, Any]]:
    """Search flights."""
    t0 = perf_counter_ns()
    out = harness.search_flights(origin, dest, date)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


@tool
async def check_policy(flight_id: str, price: float) -> dict[str, Any]:
    """Check the travel policy."""
    t0 = perf_counter_ns()
    out = harness.check_policy(flight_id, price)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


@tool(
    requires=known_flight & from_trusted_sources("flight_id") if PROVENANCE else known_flight,
    side_effects=True,
)
async def book_flight(flight_id: str) -> dict[str, Any]:
    """Book a flight."""
    t0 = perf_counter_ns()
    out = harness.book_flight(flight_id)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


def fake_model(request: ModelRequest) -> ModelResponse:
    t0 = perf_counter_ns()
    done = sum(
        1 for m in request.messages for b in m.content if b.type == "tool_result" and not b.is_error
    )
    if done < len(harness.SCRIPT_JSON):
        name, args = harness.SCRIPT_JSON[done]
        block = ToolUseBlock(id=f"call_{done}", name=name, input=json.loads(args))
        reply = ModelResponse(content=(block,), stop_reason="tool_use", usage=USAGE)
    else:
        reply = ModelResponse(content=(TextBlock(text=harness.FINAL_TEXT),), usage=USAGE)
    METER.model_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return reply


AGENT = Agent(FunctionModel(fake_model), tools=[search_flights, check_policy, book_flight])


async def run_once() -> tuple[int, int]:
    t0 = perf_counter_ns()
    result = await AGENT.run(harness.PROMPT, user="alice", conversation_id="bench")
    wall = perf_counter_ns() - t0
    assert result.output == harness.FINAL_TEXT, result.output
    return wall, METER.inside_ns


if __name__ == "__main__":
    harness.main(run_once, "agentflow+provenance" if PROVENANCE else "agentflow")
