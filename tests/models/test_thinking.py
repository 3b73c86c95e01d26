"""Extended thinking: kept in the transcript and sent back across tool use, as the API requires."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from agentflow import Agent, ConfigurationError, LoopState, tool
from agentflow.audit.attributes import Content, chat_response
from agentflow.messages import (
    ContentBlock,
    Message,
    ModelRequest,
    ModelResponse,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from agentflow.models.anthropic import AnthropicModel
from agentflow.models.deltas import delta_listener
from agentflow.models.openai import OpenAIModel
from agentflow.testing import ScriptedModel
from agentflow.testing.anthropic_server import (
    FakeAnthropicServer,
    ScriptedResponse,
    message_response,
)
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response

THOUGHT = {
    "type": "thinking",
    "thinking": "Bern is in CH; check the weather.",
    "signature": "sig==",
}
REDACTED = {"type": "redacted_thinking", "data": "EncryptedBlob=="}


@tool
def weather(city: str) -> str:
    """Current weather."""
    return f"sunny in {city}"


def tool_turn() -> ScriptedResponse:
    call = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Bern"}}
    return message_response([THOUGHT, REDACTED, call], stop_reason="tool_use")


async def test_thinking_goes_back_unmodified_with_the_tool_results() -> None:
    with FakeAnthropicServer(
        tool_turn(),
        message_response([{"type": "text", "text": "Sunny in Bern."}]),
    ) as server:
        model = AnthropicModel(
            "claude-sonnet-5", api_key="k", base_url=server.base_url, thinking_budget=2048
        )
        agent = Agent(model, tools=[weather], tool_choice="any")
        result = await agent.run("weather in Bern?")
        await model.client.close()
    assert result.output == "Sunny in Bern."
    first, second = (r.body for r in server.requests)
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    # The API refuses a forced tool choice with thinking on.
    assert first["tool_choice"] == {"type": "auto"}
    assistant = second["messages"][1]
    assert assistant["content"][:2] == [THOUGHT, REDACTED]
    assert assistant["content"][2]["type"] == "tool_use"
    assert second["messages"][2]["content"][0]["type"] == "tool_result"
    # The user is not shown the thinking.
    assert result.messages[1].text == ""


async def test_streamed_thinking_is_kept_and_not_shown_as_text() -> None:
    with FakeAnthropicServer(
        message_response([THOUGHT, {"type": "text", "text": "Hello there"}])
    ) as server:
        model = AnthropicModel("claude-sonnet-5", api_key="k", base_url=server.base_url)
        pieces: list[str] = []
        request = ModelRequest(
            system="", messages=(Message(role="user", content=(TextBlock(text="hi"),)),)
        )
        with delta_listener(pieces.append):
            response = await model.request(request)
        await model.client.close()
    assert response.content[0] == ThinkingBlock(thinking=THOUGHT["thinking"], signature="sig==")
    assert "".join(pieces) == "Hello there"


def test_a_state_with_thinking_survives_serialisation() -> None:
    state = LoopState(
        messages=[
            Message(role="user", content=(TextBlock(text="hi"),)),
            Message(
                role="assistant",
                content=(
                    ThinkingBlock(thinking="hmm", signature="s"),
                    RedactedThinkingBlock(data="x"),
                    ToolUseBlock(id="t1", name="weather", input={"city": "Bern"}),
                ),
            ),
            Message(role="user", content=(ToolResultBlock(tool_use_id="t1", content="sunny"),)),
        ]
    )
    assert LoopState.model_validate_json(state.model_dump_json()) == state
    blocks = TypeAdapter(list[ContentBlock])
    with pytest.raises(ValueError):
        blocks.validate_python([{"type": "thinking", "thinking": "x", "extra": 1}])


async def test_another_provider_continues_a_conversation_that_had_thinking() -> None:
    with FakeOpenAIServer(completion_response(content="ok")) as server:
        model = OpenAIModel("gpt-test", api_key="k", base_url=server.base_url)
        request = ModelRequest(
            system="",
            messages=(
                Message(role="user", content=(TextBlock(text="hi"),)),
                Message(
                    role="assistant",
                    content=(
                        ThinkingBlock(thinking="secret", signature="s"),
                        TextBlock(text="hey"),
                    ),
                ),
                Message(role="user", content=(TextBlock(text="again"),)),
            ),
        )
        await model.request(request)
        await model.client.close()
    messages = server.requests[0].body["messages"]
    assert messages[1] == {"role": "assistant", "content": "hey"}
    assert "secret" not in str(messages)


async def test_an_answer_of_only_thinking_is_an_empty_answer() -> None:
    only = ModelResponse(content=(ThinkingBlock(thinking="...", signature="s"),))
    result = await Agent(ScriptedModel([only])).run("hi")
    assert result.status == "model_error"
    assert [m.role for m in result.messages] == ["user", "assistant"]


def test_the_audit_trail_records_thinking_as_reasoning() -> None:
    response = ModelResponse(
        content=(ThinkingBlock(thinking="card 4111 1111 1111 1111", signature="sig-opaque"),)
    )
    recorded = str(chat_response(response, content=Content()))
    assert "reasoning" in recorded and "sig-opaque" not in recorded
    # Thinking is text: the same redaction applies to it as to any answer.
    assert "4111 1111 1111 1111" not in recorded


def test_the_thinking_budget_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="1024"):
        AnthropicModel("claude-sonnet-5", api_key="k", thinking_budget=100)
