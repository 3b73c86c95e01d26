"""Images and PDFs returned by tools: checked, sent as each API allows, named in the trail."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentflow import Agent, tool
from agentflow.attachments import attachment, digest
from agentflow.audit import AuditHandler, configure_tracing
from agentflow.messages import ImageBlock, ModelRequest, ModelResponse, ToolResultBlock
from agentflow.models.anthropic import AnthropicModel
from agentflow.models.openai import OpenAIModel
from agentflow.models.retries import RetryPolicy
from agentflow.testing import FunctionModel, text_response, tool_call
from agentflow.testing.anthropic_server import FakeAnthropicServer, message_response
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response, tool_call_body

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CHART = attachment(PNG, "image/png")
NO_RETRY = RetryPolicy(max_retries=0)


@tool
def fare_chart(route: str) -> list[object]:
    """A chart of the fares on a route."""
    return ["Fares for the next 30 days:", CHART]


@tool
def forged_chart(route: str) -> ImageBlock:
    """A chart whose bytes are not the PNG it claims."""
    return ImageBlock(media_type="image/png", data=base64.b64encode(b"GIF89a...").decode())


@pytest.fixture
def claude() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


async def test_claude_gets_the_image_inside_the_tool_result(claude: FakeAnthropicServer) -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "fare_chart", "input": {"route": "ZRH"}}
    claude.enqueue(
        message_response([use], stop_reason="tool_use"),
        message_response([{"type": "text", "text": "Tuesday is cheapest."}]),
    )
    model = AnthropicModel("claude-sonnet-5", api_key="k", base_url=claude.base_url, retry=NO_RETRY)
    result = await Agent(model, tools=[fare_chart]).run("Cheapest day?")
    await model.client.close()
    assert result.text == "Tuesday is cheapest."
    sent = claude.requests[1].body["messages"][-1]["content"][0]
    assert sent["type"] == "tool_result"
    image = {"type": "base64", "media_type": "image/png", "data": CHART.data}
    assert sent["content"][0] == {"type": "text", "text": "Fares for the next 30 days:"}
    assert sent["content"][1]["type"] == "image" and sent["content"][1]["source"] == image
    # Kept in the transcript for the next turns.
    results = [b for m in result.messages for b in m.content if isinstance(b, ToolResultBlock)]
    assert results[0].attachments == (CHART,)


async def test_openai_gets_the_image_in_a_user_message_after_the_tool_message() -> None:
    with FakeOpenAIServer() as gpt:
        gpt.enqueue(
            completion_response(tool_calls=[tool_call_body("fare_chart", {"route": "ZRH"})]),
            completion_response(content="Tuesday."),
        )
        model = OpenAIModel("gpt-5", api_key="k", base_url=gpt.base_url, retry=NO_RETRY)
        await Agent(model, tools=[fare_chart]).run("Cheapest day?")
        await model.client.close()
        messages = gpt.requests[1].body["messages"]
    tool_message, files = messages[-2], messages[-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"] == (
        "Fares for the next 30 days:\n(1 file returned, in the next message)"
    )
    assert files["role"] == "user"
    assert files["content"][0] == {"type": "text", "text": "Returned by tool call call_1:"}
    url = files["content"][1]["image_url"]["url"]
    assert url == f"data:image/png;base64,{CHART.data}"


async def test_a_file_that_is_not_what_it_claims_never_reaches_the_model() -> None:
    seen: list[ModelRequest] = []

    def answer(request: ModelRequest) -> ModelResponse:
        seen.append(request)
        if len(request.messages) == 1:
            return tool_call("forged_chart", route="ZRH")
        return text_response("Sorry.")

    result = await Agent(FunctionModel(answer), tools=[forged_chart]).run("Chart?")
    assert result.status == "completed"
    [outcome] = [b for b in seen[1].messages[-1].content if isinstance(b, ToolResultBlock)]
    assert outcome.is_error and outcome.attachments == ()
    assert "cannot be shown: an image attachment is not the image/png" in outcome.content


async def test_the_trail_names_the_file_without_its_bytes(tmp_path: Path) -> None:
    exported = InMemorySpanExporter()
    tracing = configure_tracing(
        database_url=f"sqlite:///{tmp_path}/audit.db", exporters=[exported], otlp=False
    )

    def answer(request: ModelRequest) -> ModelResponse:
        if len(request.messages) == 1:
            return tool_call("fare_chart", route="ZRH")
        return text_response("Tuesday.")

    model = FunctionModel(answer, name="m")
    agent = Agent(
        model, tools=[fare_chart], event_handlers=[AuditHandler(tracing, model=model, agent="a")]
    )
    await agent.run("Chart?", user="alice")
    tracing.force_flush()
    tracing.shutdown()
    spans = exported.get_finished_spans()
    [tool_span] = [dict(s.attributes or {}) for s in spans if s.name == "execute_tool fare_chart"]
    [named] = json.loads(str(tool_span["agentflow.tool.attachments"]))
    assert named == {
        "type": "blob",
        "modality": "image",
        "mime_type": "image/png",
        "bytes": len(PNG),
        "sha256": digest(CHART),
    }
    everything = json.dumps([dict(s.attributes or {}) for s in spans], default=str)
    assert CHART.data not in everything
    assert digest(CHART) in everything
