"""The floor: a hand-written async tool loop with pydantic validation of tool arguments."""

from __future__ import annotations

import time

_t0 = time.perf_counter()
import json  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

import pydantic  # noqa: E402
from pydantic import BaseModel  # noqa: E402

IMPORT_S = time.perf_counter() - _t0
VERSION = f"pydantic {pydantic.VERSION}"

from time import perf_counter_ns  # noqa: E402

from bench import harness  # noqa: E402

METER = harness.METER


class SearchFlightsArgs(BaseModel):
    origin: str
    dest: str
    date: str


class CheckPolicyArgs(BaseModel):
    flight_id: str
    price: float


class BookFlightArgs(BaseModel):
    flight_id: str


async def search_flights(origin: str, dest: str, date: str) -> list[dict[str, Any]]:
    t0 = perf_counter_ns()
    out = harness.search_flights(origin, dest, date)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


async def check_policy(flight_id: str, price: float) -> dict[str, Any]:
    t0 = perf_counter_ns()
    out = harness.check_policy(flight_id, price)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


async def book_flight(flight_id: str) -> dict[str, Any]:
    t0 = perf_counter_ns()
    out = harness.book_flight(flight_id)
    METER.tool_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return out


TOOLS: dict[str, tuple[type[BaseModel], Callable[..., Awaitable[Any]]]] = {
    "search_flights": (SearchFlightsArgs, search_flights),
    "check_policy": (CheckPolicyArgs, check_policy),
    "book_flight": (BookFlightArgs, book_flight),
}
TOOL_SCHEMAS = [
    {"name": name, "parameters": model.model_json_schema()} for name, (model, _) in TOOLS.items()
]


async def fake_model(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    t0 = perf_counter_ns()
    done = sum(1 for m in messages if m["role"] == "tool" and not m.get("is_error"))
    if done < len(harness.SCRIPT_JSON):
        name, args = harness.SCRIPT_JSON[done]
        reply: dict[str, Any] = {
            "role": "assistant",
            "tool_calls": [{"id": f"call_{done}", "name": name, "arguments": args}],
        }
    else:
        reply = {"role": "assistant", "content": harness.FINAL_TEXT}
    reply["usage"] = {"input_tokens": harness.USAGE_IN, "output_tokens": harness.USAGE_OUT}
    METER.model_calls += 1
    METER.inside_ns += perf_counter_ns() - t0
    return reply


async def run_agent(prompt: str, max_turns: int = 10) -> str:
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    for _ in range(max_turns):
        reply = await fake_model(messages, TOOL_SCHEMAS)
        messages.append(reply)
        calls = reply.get("tool_calls")
        if not calls:
            return reply["content"]
        for call in calls:
            args_model, fn = TOOLS[call["name"]]
            try:
                args = args_model.model_validate_json(call["arguments"])
                result = await fn(**dict(args))
                content, is_error = json.dumps(result), False
            except pydantic.ValidationError as exc:
                content, is_error = exc.json(), True
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "content": content,
                    "is_error": is_error,
                }
            )
    raise RuntimeError("max turns exceeded")


async def run_once() -> tuple[int, int]:
    t0 = perf_counter_ns()
    output = await run_agent(harness.PROMPT)
    wall = perf_counter_ns() - t0
    assert output == harness.FINAL_TEXT, output
    return wall, METER.inside_ns


if __name__ == "__main__":
    harness.main(run_once, "handwritten")
