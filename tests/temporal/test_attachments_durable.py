"""Attachments on Temporal: checked by the update's validator, carried in the transcript."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from agentflow import Agent, InvalidInput
from agentflow.attachments import attachment
from agentflow.messages import ImageBlock, ModelRequest, ModelResponse
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response

pytestmark = pytest.mark.asyncio(loop_scope="session")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def describe(request: ModelRequest) -> ModelResponse:
    images = [b for b in request.messages[-1].content if isinstance(b, ImageBlock)]
    return text_response(f"{len(images)} image(s), {images[0].media_type if images else '-'}")


async def test_an_image_crosses_the_workflow_and_a_bad_one_never_enters_it(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    queue = f"attachments-{uuid.uuid4().hex}"
    agent = Agent(FunctionModel(describe), name=f"looker-{uuid.uuid4().hex[:8]}")
    async with create_worker(client, [agent], task_queue=queue):
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="ann")
        image = attachment(PNG, "image/png")
        reply = await agents.send(conversation, "look", sender="ann", attachments=[image])
        assert reply.output == "1 image(s), image/png"
        forged = ImageBlock(media_type="image/jpeg", data=image.data)
        with pytest.raises(InvalidInput, match="not the image/jpeg"):
            await agents.send(conversation, "and this", sender="ann", attachments=[forged])
        transcript = await agents.transcript(conversation)
        assert [m.text for m in transcript.messages if m.role == "user"] == ["look"]
        assert transcript.messages[0].content[1] == image
