"""OpenAI Agents SDK: ``Agent`` + ``Runner.run`` with a scripted ``Model`` subclass.

Tracing is disabled globally (``set_tracing_disabled(True)``) so nothing is exported to the
network; the model is passed as an instance, so no OpenAI client or API key is involved.
"""

from __future__ import annotations

import time

_t0 = time.perf_counter()
from collections.abc import AsyncIterator  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402

from agents import (  # noqa: E402
    Agent,
    ModelResponse,
    Runner,
    Usage,
    function_tool,
    set_tracing_disabled,
)
from agents.models.interface import Model, ModelTracing  # noqa: E402
from openai.types.responses import (  # noqa: E402
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

IMPORT_S = time.perf_counter() - _t0
VERSION = version("openai-agents")

from time import perf_counter_ns  # noqa: E402

from bench import harness  # noqa: E402

METER = harness.METER
set_tracing_disabled(True)


def _item_type(item: Any) -> Any:
    return item.get("type") if isinstance(item, dict) else getattr(item, "type", None)


class ScriptedModel(Model):
    """Zero-latency model that follows ``harness.SCRIPT`` based on the tool results it sees."""

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings: Any,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
        **kwargs: Any,
    ) -> ModelResponse:
        t0 = perf_counter_ns()
        done = 0
        if not isinstance(input, str):
            done = sum(1 for item in input if _item_type(item) == "function_call_output")
        output: list[Any]
        if done < len(harness.SCRIPT_JSON):
            name, args = harness.SCRIPT_JSON[done]
            output = [
                ResponseFunctionToolCall(
                    type="function_call",
                    id=f"fc_{done}",
                    call_id=f"call_{done}",
                    name=name,
                    arguments=args,
                    status="completed",
                )
            ]
        else:
            output = [
                ResponseOutputMessage(
                    type="message",
                    id="msg_final",
                    role="assistant",
                    status="completed",
                    content=[
                        ResponseOutputText(
                            type="output_text", text=harness.FINAL_TEXT, annotations=[]
                        )
                    ],
                )
            ]
        response = ModelResponse(
            output=output,
            usage=Usage(
                requests=1,
                input_tokens=harness.USAGE_IN,
                output_tokens=harness.USAGE_OUT,
                total_tokens=harness.USAGE_IN + harness.USAGE_OUT,
            ),
            response_id=None,
        )
        METER.model_calls += 1
        METER.inside_ns += perf_counter_ns() - t0
        return response

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the benchmark does not stream")


@function_tool
async def search_flights(origin: str, dest: str, date: str) -> list[dict[str, Any]]:
    """Search flights from origin to dest on date (YYYY-MM-DD)."""
    t0 = perf_counter_ns()
    out = harness.search_flights(origin, dest, date)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


@function_tool
async def check_policy(flight_id: str, price: float) -> dict[str, Any]:
    """Check whether a flight at this price is within travel policy."""
    t0 = perf_counter_ns()
    out = harness.check_policy(flight_id, price)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


@function_tool
async def book_flight(flight_id: str) -> dict[str, Any]:
    """Book the flight."""
    t0 = perf_counter_ns()
    out = harness.book_flight(flight_id)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


agent = Agent(
    name="booker",
    instructions="You book flights.",
    model=ScriptedModel(),
    tools=[search_flights, check_policy, book_flight],
)


async def run_once() -> tuple[int, int]:
    t0 = perf_counter_ns()
    result = await Runner.run(agent, harness.PROMPT)
    wall = perf_counter_ns() - t0
    assert result.final_output == harness.FINAL_TEXT, result.final_output
    return wall, METER.inside_ns


if __name__ == "__main__":
    harness.main(run_once, "openai-agents")
