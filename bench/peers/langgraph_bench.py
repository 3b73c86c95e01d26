"""LangGraph: prebuilt ReAct agent with a scripted ``BaseChatModel`` and ``@tool`` tools.

``langgraph.prebuilt.create_react_agent`` is deprecated in LangGraph 1.x in favour of
``langchain.agents.create_agent``, which lives in the separate ``langchain`` package (not part
of this benchmark's install set); the prebuilt graph is still shipped and is what is measured.
LangSmith tracing env vars are cleared so that nothing is sent to the network.
"""

from __future__ import annotations

import os
import time
import warnings

for _var in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING"):
    os.environ.pop(_var, None)

_t0 = time.perf_counter()
from collections.abc import Callable, Sequence  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402

from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import BaseTool, tool  # noqa: E402
from langchain_core.utils.function_calling import convert_to_openai_tool  # noqa: E402
from langgraph.prebuilt import create_react_agent  # noqa: E402

IMPORT_S = time.perf_counter() - _t0
VERSION = f"{version('langgraph')} (core {version('langchain-core')})"

from time import perf_counter_ns  # noqa: E402

from bench import harness  # noqa: E402

METER = harness.METER


class ScriptedChatModel(BaseChatModel):
    """Zero-latency chat model that follows ``harness.SCRIPT`` based on the tool results."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Any:
        # What a real provider integration does: convert to provider schemas and bind them.
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _respond(self, messages: list[BaseMessage]) -> ChatResult:
        done = sum(1 for m in messages if isinstance(m, ToolMessage) and m.status == "success")
        usage = {
            "input_tokens": harness.USAGE_IN,
            "output_tokens": harness.USAGE_OUT,
            "total_tokens": harness.USAGE_IN + harness.USAGE_OUT,
        }
        if done < len(harness.SCRIPT):
            name, args = harness.SCRIPT[done]
            message = AIMessage(
                content="",
                tool_calls=[{"name": name, "args": dict(args), "id": f"call_{done}"}],
                usage_metadata=usage,
            )
        else:
            message = AIMessage(content=harness.FINAL_TEXT, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        t0 = perf_counter_ns()
        result = self._respond(messages)
        METER.model_calls += 1
        METER.inside_ns += perf_counter_ns() - t0
        return result

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        t0 = perf_counter_ns()
        result = self._respond(messages)
        METER.model_calls += 1
        METER.inside_ns += perf_counter_ns() - t0
        return result


@tool
async def search_flights(origin: str, dest: str, date: str) -> list[dict[str, Any]]:
    """Search flights from origin to dest on date (YYYY-MM-DD)."""
    t0 = perf_counter_ns()
    out = harness.search_flights(origin, dest, date)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


@tool
async def check_policy(flight_id: str, price: float) -> dict[str, Any]:
    """Check whether a flight at this price is within travel policy."""
    t0 = perf_counter_ns()
    out = harness.check_policy(flight_id, price)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


@tool
async def book_flight(flight_id: str) -> dict[str, Any]:
    """Book the flight."""
    t0 = perf_counter_ns()
    out = harness.book_flight(flight_id)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # create_react_agent's LangGraphDeprecatedSinceV10
    graph = create_react_agent(
        ScriptedChatModel(),
        [search_flights, check_policy, book_flight],
        prompt="You book flights.",
    )


async def run_once() -> tuple[int, int]:
    t0 = perf_counter_ns()
    state = await graph.ainvoke({"messages": [("user", harness.PROMPT)]})
    wall = perf_counter_ns() - t0
    final = state["messages"][-1]
    assert final.content == harness.FINAL_TEXT, final
    return wall, METER.inside_ns


if __name__ == "__main__":
    harness.main(run_once, "langgraph")
