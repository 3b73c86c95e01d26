"""pydantic-ai: ``Agent`` + ``FunctionModel`` + three ``@agent.tool_plain`` tools.

``python -m bench.peers.pydantic_ai_bench --otel`` runs the same agent with OpenTelemetry
instrumentation on, reported as ``pydantic-ai+otel``. pydantic-ai 2.x dropped the
``Agent(instrument=...)`` argument; instrumentation is the ``Instrumentation`` capability
(or the ``agent.instrument`` property / ``Agent.instrument_all()``), which this bench uses with
an SDK ``TracerProvider`` exporting to memory.
"""

from __future__ import annotations

import sys
import time

OTEL = "--otel" in sys.argv[1:]

_t0 = time.perf_counter()
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402

from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.messages import (  # noqa: E402
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel  # noqa: E402
from pydantic_ai.usage import RequestUsage  # noqa: E402

if OTEL:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from pydantic_ai.capabilities import Instrumentation
    from pydantic_ai.models.instrumented import InstrumentationSettings
IMPORT_S = time.perf_counter() - _t0
VERSION = version("pydantic-ai-slim")

from time import perf_counter_ns  # noqa: E402

from bench import harness  # noqa: E402

METER = harness.METER


async def fake_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    t0 = perf_counter_ns()
    done = 0
    for message in messages:
        if isinstance(message, ModelRequest):
            done += sum(1 for part in message.parts if isinstance(part, ToolReturnPart))
    if done < len(harness.SCRIPT_JSON):
        name, args = harness.SCRIPT_JSON[done]
        parts: list[Any] = [ToolCallPart(tool_name=name, args=args, tool_call_id=f"call_{done}")]
    else:
        parts = [TextPart(content=harness.FINAL_TEXT)]
    response = ModelResponse(
        parts=parts,
        usage=RequestUsage(input_tokens=harness.USAGE_IN, output_tokens=harness.USAGE_OUT),
    )
    METER.model_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return response


capabilities: list[Any] = []
exporter: Any = None
if OTEL:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    capabilities.append(
        Instrumentation(settings=InstrumentationSettings(tracer_provider=tracer_provider))
    )

agent = Agent(FunctionModel(fake_model), name="booker", capabilities=capabilities)


@agent.tool_plain
async def search_flights(origin: str, dest: str, date: str) -> list[dict[str, Any]]:
    """Search flights from origin to dest on date (YYYY-MM-DD)."""
    t0 = perf_counter_ns()
    out = harness.search_flights(origin, dest, date)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


@agent.tool_plain
async def check_policy(flight_id: str, price: float) -> dict[str, Any]:
    """Check whether a flight at this price is within travel policy."""
    t0 = perf_counter_ns()
    out = harness.check_policy(flight_id, price)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


@agent.tool_plain
async def book_flight(flight_id: str) -> dict[str, Any]:
    """Book the flight."""
    t0 = perf_counter_ns()
    out = harness.book_flight(flight_id)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


async def run_once() -> tuple[int, int]:
    t0 = perf_counter_ns()
    result = await agent.run(harness.PROMPT)
    wall = perf_counter_ns() - t0
    assert result.output == harness.FINAL_TEXT, result.output
    if exporter is not None:
        spans = exporter.get_finished_spans()
        assert len(spans) >= 8, f"expected agent/model/tool spans, got {len(spans)}"
        exporter.clear()
    return wall, METER.inside_ns


if __name__ == "__main__":
    harness.main(run_once, "pydantic-ai+otel" if OTEL else "pydantic-ai")
