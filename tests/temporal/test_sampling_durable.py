"""On Temporal, a model call carries the agent's settings and the message's sender."""

from __future__ import annotations

import uuid

import pytest

from agentflow import Agent
from agentflow.messages import ModelRequest, ModelResponse, ModelSettings
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_each_model_call_is_made_for_whoever_wrote_the_message(
    dev_server: DevServer,
) -> None:
    seen: list[ModelRequest] = []

    def answer(request: ModelRequest) -> ModelResponse:
        seen.append(request)
        return text_response(f"hello {request.user}")

    client = await dev_server.client()
    queue = f"sampling-{uuid.uuid4().hex}"
    settings = ModelSettings(temperature=0.1, stop_sequences=("END",))
    agent = Agent(FunctionModel(answer), name=f"sampler-{uuid.uuid4().hex[:8]}", settings=settings)
    async with create_worker(client, [agent], task_queue=queue):
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="ann", participants=["bob"])
        first = await agents.send(conversation, "hi", sender="ann")
        second = await agents.send(conversation, "me too", sender="bob")
        anyone = await agents.start_conversation(agent.name, user=None)
        third = await agents.send(anyone, "and me")
    assert (first.output, second.output, third.output) == ("hello ann", "hello bob", "hello None")
    assert [r.settings for r in seen] == [settings] * 3
