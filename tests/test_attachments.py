"""Images and PDFs in a user message: checked at the door, carried to both providers."""

from __future__ import annotations

import base64

import pytest

from agentflow import Agent, InvalidInput, Limits, LoopState
from agentflow.attachments import attachment
from agentflow.audit.attributes import Content, chat_request
from agentflow.messages import DocumentBlock, ImageBlock, Message, ModelRequest, TextBlock
from agentflow.models.anthropic import AnthropicModel
from agentflow.models.openai import OpenAIModel
from agentflow.testing import ScriptedModel
from agentflow.testing.anthropic_server import FakeAnthropicServer, message_response
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"1 0 obj\n" * 8


def test_an_attachment_is_made_from_bytes_of_the_type_it_claims() -> None:
    image = attachment(PNG, "image/png")
    assert image == ImageBlock(media_type="image/png", data=base64.b64encode(PNG).decode())
    document = attachment(PDF, "application/pdf", title="fare rules")
    assert isinstance(document, DocumentBlock) and document.title == "fare rules"
    with pytest.raises(InvalidInput, match="not supported"):
        attachment(b"MZ\x90\x00", "application/x-msdownload")
    with pytest.raises(InvalidInput, match="not the image/jpeg"):
        attachment(PNG, "image/jpeg")
    with pytest.raises(InvalidInput, match="empty"):
        attachment(b"", "image/png")


async def test_the_image_reaches_anthropic_as_an_image_block() -> None:
    with FakeAnthropicServer(message_response([{"type": "text", "text": "A cat."}])) as server:
        model = AnthropicModel("claude-sonnet-5", api_key="k", base_url=server.base_url)
        image, pdf = attachment(PNG, "image/png"), attachment(PDF, "application/pdf", title="T")
        result = await Agent(model).run("what is this?", attachments=[image, pdf])
        await model.client.close()
    assert result.output == "A cat."
    content = server.requests[0].body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": image.data},
    }
    assert content[2]["type"] == "document" and content[2]["title"] == "T"
    assert content[2]["source"]["media_type"] == "application/pdf"
    # What rules read as "what the user just said" is the text.
    assert result.state.latest_user_message == "what is this?"


async def test_the_image_reaches_openai_as_a_data_url() -> None:
    with FakeOpenAIServer(completion_response(content="A cat.")) as server:
        model = OpenAIModel("gpt-test", api_key="k", base_url=server.base_url)
        image, pdf = attachment(PNG, "image/png"), attachment(PDF, "application/pdf")
        await Agent(model).run("what is this?", attachments=[image, pdf])
        await model.client.close()
    parts = server.requests[0].body["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "what is this?"}
    assert parts[1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{image.data}"},
    }
    assert parts[2]["type"] == "file"
    assert parts[2]["file"]["file_data"].startswith("data:application/pdf;base64,")


@pytest.mark.parametrize(
    ("block", "why"),
    [
        (ImageBlock(media_type="image/png", data="not base64!!"), "not valid base64"),
        (ImageBlock(media_type="image/png", data=base64.b64encode(PDF).decode()), "not the"),
        (ImageBlock(media_type="image/gif", data="A" * 8_000_000), "over 5000000 bytes"),
    ],
)
async def test_a_bad_attachment_is_refused_and_nothing_changes(block: ImageBlock, why: str) -> None:
    model = ScriptedModel(["first answer"])
    agent = Agent(model)
    first = await agent.run("hello")
    before = first.state.model_copy(deep=True)
    with pytest.raises(InvalidInput, match=why):
        await agent.run("and this?", state=first.state, attachments=[block])
    assert first.state == before
    assert len(model.requests) == 1


async def test_too_many_attachments_are_refused() -> None:
    images = [attachment(PNG, "image/png")] * 3
    agent = Agent(ScriptedModel([]), limits=Limits(max_attachments=2))
    with pytest.raises(InvalidInput, match="3 attachments; the limit is 2"):
        await agent.run("look", attachments=images)


def test_a_state_with_attachments_survives_serialisation() -> None:
    image = attachment(PNG, "image/png")
    state = LoopState(messages=[Message(role="user", content=(TextBlock(text="hi"), image))])
    assert LoopState.model_validate_json(state.model_dump_json()) == state


def test_the_audit_trail_names_an_attachment_but_keeps_no_bytes() -> None:
    image = attachment(PNG, "image/png")
    message = Message(role="user", content=(TextBlock(text="look"), image))
    request = ModelRequest(system="", messages=(message,))
    recorded = str(chat_request(request, provider="anthropic", model="m", content=Content()))
    assert image.data not in recorded
    assert "image/png" in recorded and "sha256" in recorded
