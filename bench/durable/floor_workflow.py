"""The floor: a bare workflow running the conversation's 7 activities one after the other.

It imports nothing but temporalio, so the sandbox has nothing of ours to re-import per run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

TIMEOUT = timedelta(seconds=60)


@workflow.defn(name="FloorWorkflow")
class FloorWorkflow:
    @workflow.run
    async def run(self, prompt: str) -> str:
        done = 0
        while True:
            step: dict[str, Any] = await workflow.execute_activity(
                "floor.model_step", done, start_to_close_timeout=TIMEOUT
            )
            if "text" in step:
                return step["text"]
            await workflow.execute_activity(
                "floor.tool_step", args=[step["tool"], step["args"]], start_to_close_timeout=TIMEOUT
            )
            done += 1


@workflow.defn(name="FloorGrowthWorkflow")
class FloorGrowthWorkflow:
    """The floor of a longer conversation: ``tool_calls`` tool steps, each after a model step."""

    @workflow.run
    async def run(self, tool_calls: int) -> str:
        done = 0
        while True:
            step: dict[str, Any] = await workflow.execute_activity(
                "floor.model_step_of",
                args=[done, tool_calls],
                start_to_close_timeout=TIMEOUT,
            )
            if "text" in step:
                return step["text"]
            await workflow.execute_activity(
                "floor.tool_step", args=[step["tool"], step["args"]], start_to_close_timeout=TIMEOUT
            )
            done += 1
