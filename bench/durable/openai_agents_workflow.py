"""The workflow that runs an OpenAI Agents SDK agent under ``OpenAIAgentsPlugin``."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agents import Agent, Runner
    from temporalio.openai_agents.workflow import activity_as_tool

    from bench.durable import openai_agents_activities as acts

TOOL_TIMEOUT = timedelta(seconds=60)
MODEL_NAME = "scripted"


@workflow.defn(name="OpenAIAgentsBooker")
class OpenAIAgentsBooker:
    @workflow.run
    async def run(self, prompt: str) -> str:
        agent = Agent(
            name="booker",
            instructions="You book flights.",
            model=MODEL_NAME,
            tools=[
                activity_as_tool(fn, start_to_close_timeout=TOOL_TIMEOUT) for fn in acts.ACTIVITIES
            ],
        )
        result = await Runner.run(agent, prompt)
        return str(result.final_output)
