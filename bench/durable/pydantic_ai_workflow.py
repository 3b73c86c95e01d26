"""The workflow that runs Pydantic AI's durable agent, as in pydantic-ai's Temporal docs."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow

    from bench.durable.pydantic_ai_agent import AGENT


@workflow.defn(name="PydanticAIBooker")
class PydanticAIBooker(PydanticAIWorkflow):
    __pydantic_ai_agents__ = (AGENT,)

    @workflow.run
    async def run(self, prompt: str) -> str:
        result = await AGENT.run(prompt)
        return result.output
