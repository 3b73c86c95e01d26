"""AnthropicModel against the real SDK client and a local server speaking the Messages API."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import pytest

from agentflow.exceptions import ConfigurationError, ModelHTTPError, ModelUnavailable
from agentflow.messages import (
    Message,
    ModelRequest,
    TextBlock,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.models.anthropic import AnthropicModel
from agentflow.testing.anthropic_server import (
    FakeAnthropicServer,
    ScriptedResponse,
    error_body,
    error_response,
    message_response,
)

MODEL = "claude-sonnet-5"  # the default, claude-sonnet-4-5, makes the SDK warn it is deprecated
API_KEY = "sk-ant-test"
FAST_RETRY = {"retry-after-ms": "10"}

WEATHER = ToolDefinition(
    name="get_weather",
    description="Current weather for a city.",
    input_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
TIME = ToolDefinition(
    name="get_time",
    description="Current local time in a city.",
    input_schema={"type": "object", "properties": {"city": {"type": "string"}}},
)

ModelFactory = Callable[..., AnthropicModel]


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
async def make_model(server: FakeAnthropicServer) -> AsyncIterator[ModelFactory]:
    """Builds models aimed at ``server`` (unless told otherwise) and closes their clients."""
    made: list[AnthropicModel] = []

    def make(**kwargs: Any) -> AnthropicModel:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", server.base_url)
        model = AnthropicModel(MODEL, **kwargs)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.client.close()


def hello() -> ModelRequest:
    return ModelRequest(
        system="Be brief.",
        messages=(Message(role="user", content=(TextBlock(text="hi"),)),),
    )


def hi_there() -> ScriptedResponse:
    return message_response([{"type": "text", "text": "Hi there"}], model=MODEL)


async def test_tool_use_round_trip(server: FakeAnthropicServer, make_model: ModelFactory) -> None:
    server.enqueue(
        message_response(
            [
                {"type": "text", "text": "And the time."},
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_time",
                    "input": {"city": "Paris", "format": {"hours": 24}},
                },
            ],
            stop_reason="tool_use",
            model="claude-sonnet-5-20270101",
            input_tokens=120,
            output_tokens=40,
            cache_creation_input_tokens=1000,
            cache_read_input_tokens=2000,
        )
    )
    request = ModelRequest(
        system="You are a travel assistant.",
        messages=(
            Message(role="user", content=(TextBlock(text="Weather in Paris and Rome?"),)),
            Message(
                role="assistant",
                content=(
                    TextBlock(text="Checking."),
                    ToolUseBlock(id="toolu_1", name="get_weather", input={"city": "Paris"}),
                    ToolUseBlock(id="toolu_9", name="get_weather", input={"city": "Rome"}),
                ),
            ),
            Message(
                role="user",
                content=(
                    ToolResultBlock(tool_use_id="toolu_1", content="18C, sunny"),
                    ToolResultBlock(tool_use_id="toolu_9", content="no such city", is_error=True),
                ),
            ),
        ),
        tools=(WEATHER, TIME),
        tool_choice="get_time",
        max_tokens=1024,
    )

    response = await make_model().request(request)

    assert response.content == (
        TextBlock(text="And the time."),
        ToolUseBlock(
            id="toolu_2", name="get_time", input={"city": "Paris", "format": {"hours": 24}}
        ),
    )
    assert response.tool_calls[0].input == {"city": "Paris", "format": {"hours": 24}}
    assert response.stop_reason == "tool_use"
    assert response.model == "claude-sonnet-5-20270101"
    assert response.usage == Usage(
        input_tokens=120,
        output_tokens=40,
        cache_creation_input_tokens=1000,
        cache_read_input_tokens=2000,
    )

    [sent] = server.requests
    assert sent.method == "POST"
    assert sent.path == "/v1/messages"
    assert sent.body == {
        "model": MODEL,
        "max_tokens": 1024,
        "system": [
            {
                "type": "text",
                "text": "You are a travel assistant.",
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_9",
                        "name": "get_weather",
                        "input": {"city": "Rome"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": "18C, sunny",
                        "is_error": False,
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_9",
                        "content": "no such city",
                        "is_error": True,
                    },
                ],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "input_schema": WEATHER.input_schema,
            },
            {
                "name": "get_time",
                "description": "Current local time in a city.",
                "input_schema": TIME.input_schema,
                "cache_control": {"type": "ephemeral"},
            },
        ],
        "tool_choice": {"type": "tool", "name": "get_time"},
    }
    # The key reached the server (SDK 2.x sends it as a bearer token, 0.x as x-api-key).
    assert API_KEY in (sent.headers.get("x-api-key"), sent.headers.get("authorization", "")[7:])
    assert sent.headers["anthropic-version"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("any", {"type": "any"}),
        ("none", {"type": "none"}),
        ("get_weather", {"type": "tool", "name": "get_weather"}),
    ],
)
async def test_tool_choice_mapping(
    server: FakeAnthropicServer,
    make_model: ModelFactory,
    choice: str,
    expected: dict[str, str],
) -> None:
    server.enqueue(hi_there())
    await make_model().request(dataclasses.replace(hello(), tools=(WEATHER,), tool_choice=choice))
    [sent] = server.requests
    assert sent.body["tool_choice"] == expected
    assert sent.body["tools"][0]["cache_control"] == {"type": "ephemeral"}


async def test_no_tools_and_no_system_are_omitted(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(hi_there())
    response = await make_model().request(dataclasses.replace(hello(), system=""))
    assert response.text == "Hi there"
    [sent] = server.requests
    assert not {"system", "tools", "tool_choice"} & sent.body.keys()


async def test_unknown_blocks_are_dropped_and_stop_reasons_mapped(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        message_response(
            [
                {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Done"},
            ],
            stop_reason="model_context_window_exceeded",
        )
    )
    response = await make_model().request(hello())
    assert response.content == (TextBlock(text="Done"),)
    assert response.stop_reason == "max_tokens"
    assert response.usage.cache_creation_input_tokens == 0
    assert response.usage.cache_read_input_tokens == 0


async def test_overloaded_is_retried_by_the_sdk(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        error_response(529, "overloaded_error", "Overloaded", headers=FAST_RETRY),
        hi_there(),
    )
    response = await make_model(max_retries=2).request(hello())
    assert response.text == "Hi there"
    first, second = server.requests
    assert first.body == second.body
    assert second.headers["x-stainless-retry-count"] == "1"


async def test_bad_request_is_not_retried(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        error_response(400, "invalid_request_error", "max_tokens: too large", headers=FAST_RETRY),
        hi_there(),
    )
    with pytest.raises(ModelHTTPError) as caught:
        await make_model(max_retries=4).request(hello())
    assert caught.value.status_code == 400
    assert caught.value.body == error_body("invalid_request_error", "max_tokens: too large")
    assert "max_tokens: too large" in str(caught.value)
    assert isinstance(caught.value.__cause__, anthropic.APIStatusError)
    assert len(server.requests) == 1


async def test_rate_limit_beyond_max_retries(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    rate_limited = error_response(429, "rate_limit_error", "Slow down", headers=FAST_RETRY)
    server.enqueue(rate_limited, rate_limited, rate_limited, hi_there())
    with pytest.raises(ModelHTTPError) as caught:
        await make_model(max_retries=2).request(hello())
    assert caught.value.status_code == 429
    assert len(server.requests) == 3
    assert server.pending == 1


async def test_connection_refused_is_unavailable(make_model: ModelFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on ``port`` any more.
    model = make_model(base_url=f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(ModelUnavailable) as caught:
        await model.request(hello())
    assert isinstance(caught.value.__cause__, anthropic.APIConnectionError)


async def test_timeout_is_unavailable(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(ScriptedResponse(200, None, delay=2.0))
    with pytest.raises(ModelUnavailable) as caught:
        await make_model(max_retries=0, timeout=0.2).request(hello())
    assert isinstance(caught.value.__cause__, anthropic.APITimeoutError)


def test_missing_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicModel(MODEL)


async def test_api_key_and_base_url_from_environment(
    server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    server.enqueue(hi_there())
    model = AnthropicModel(MODEL, max_retries=0)
    try:
        response = await model.request(hello())
    finally:
        await model.client.close()
    assert response.text == "Hi there"
    assert len(server.requests) == 1


async def test_given_client_is_used_as_is(
    server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    server.enqueue(hi_there())
    async with anthropic.AsyncAnthropic(api_key=API_KEY, base_url=server.base_url) as client:
        model = AnthropicModel(MODEL, client=client)
        assert model.name == MODEL
        assert (await model.request(hello())).text == "Hi there"
    assert len(server.requests) == 1
