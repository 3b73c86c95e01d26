"""On Temporal, a tool's image crosses the activity into the transcript and the next model call."""

from __future__ import annotations

import uuid

import pytest

from agentflow import Agent, tool
from agentflow.attachments import attachment
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response, tool_call

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHART = attachment(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png")


@tool
def fare_chart(route: str) -> list[object]:
    """A chart of the fares on a route."""
    return ["chart:", CHART]


def answer(request: ModelRequest) -> ModelResponse:
    results = [b for b in request.messages[-1].content if isinstance(b, ToolResultBlock)]
    if not results:
        return tool_call("fare_chart", route="ZRH")
    files = results[0].attachments
    return text_response(f"{results[0].content} {[f.media_type for f in files]}")


async def test_a_tool_image_reaches_the_next_model_call(dev_server: DevServer) -> None:
    client = await dev_server.client()
    queue = f"tool-files-{uuid.uuid4().hex}"
    agent = Agent(FunctionModel(answer), tools=[fare_chart], name=f"charts-{uuid.uuid4().hex[:8]}")
    async with create_worker(client, [agent], task_queue=queue):
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="ann")
        reply = await agents.send(conversation, "chart?", sender="ann")
        transcript = await agents.transcript(conversation)
    assert reply.output == "chart: ['image/png']"
    [result] = [b for m in transcript.messages for b in m.content if isinstance(b, ToolResultBlock)]
    assert result.attachments == (CHART,)
