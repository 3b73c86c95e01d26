"""Activities of the floor: the scripted model step and the three tool bodies, nothing else."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from bench import harness

METER = harness.METER
_TOOLS = {
    "search_flights": harness.search_flights,
    "check_policy": harness.check_policy,
    "book_flight": harness.book_flight,
}


@activity.defn(name="floor.model_step")
async def model_step(done: int) -> dict[str, Any]:
    """The fake model: the next tool call after ``done`` tool results, then the final text."""
    METER.model_calls += 1
    if done < len(harness.SCRIPT):
        name, args = harness.SCRIPT[done]
        return {"tool": name, "args": dict(args)}
    return {"text": harness.FINAL_TEXT}


@activity.defn(name="floor.model_step_of")
async def model_step_of(done: int, tool_calls: int) -> dict[str, Any]:
    """The fake model of a longer conversation: the script's calls in turn, ``tool_calls`` of
    them, then the final text."""
    METER.model_calls += 1
    if done < tool_calls:
        name, args = harness.SCRIPT[done % len(harness.SCRIPT)]
        return {"tool": name, "args": dict(args)}
    return {"text": harness.FINAL_TEXT}


@activity.defn(name="floor.tool_step")
async def tool_step(name: str, args: dict[str, Any]) -> Any:
    out = _TOOLS[name](**args)
    METER.tool_calls += 1
    return out


ACTIVITIES = [model_step, model_step_of, tool_step]
