"""AnthropicModel against the real SDK client and a local server speaking the Messages API."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import pytest

from agentflow.events import ModelRetrying
from agentflow.exceptions import (
    ConfigurationError,
    ModelHTTPError,
    ModelResponseError,
    ModelUnavailable,
)
from agentflow.messages import (
    Message,
    ModelRequest,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.models.anthropic import STREAMING_MAX_TOKENS, AnthropicModel
from agentflow.models.retries import RetryPolicy, retry_listener
from agentflow.testing.anthropic_server import (
    FakeAnthropicServer,
    ScriptedResponse,
    error_body,
    error_response,
    message_body,
    message_events,
    message_response,
    stream_response,
)
from tests.models.adapters import FAST_RETRY, QUICK, hello, model_factory

MODEL = "claude-sonnet-5"  # the default, claude-sonnet-4-5, makes the SDK warn it is deprecated
API_KEY = "sk-ant-test"

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
    build = functools.partial(AnthropicModel, MODEL)
    async with model_factory(build, base_url=server.base_url, api_key=API_KEY) as make:
        yield make


def hi_there() -> ScriptedResponse:
    return message_response([{"type": "text", "text": "Hi there"}], model=MODEL)


def long(request: ModelRequest, max_tokens: int = 64_000) -> ModelRequest:
    """``request`` asking for enough output tokens that it has to be streamed."""
    return dataclasses.replace(request, max_tokens=max_tokens)


@contextlib.contextmanager
def retries_heard() -> Iterator[list[ModelRetrying]]:
    heard: list[ModelRetrying] = []
    with retry_listener(heard.append):
        yield heard


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
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "Weather in Paris and Rome?",
                        # The previous request ended here: this one reads its prefix.
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
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
                        # The next request reads up to here.
                        "cache_control": {"type": "ephemeral"},
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


async def test_unknown_blocks_are_dropped_thinking_kept_and_stop_reasons_mapped(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        message_response(
            [
                {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {}},
                {"type": "text", "text": "Done"},
            ],
            stop_reason="model_context_window_exceeded",
        )
    )
    response = await make_model().request(hello())
    assert response.content == (
        ThinkingBlock(thinking="Hmm.", signature="sig"),
        RedactedThinkingBlock(data="opaque"),
        TextBlock(text="Done"),
    )
    assert response.stop_reason == "max_tokens"
    assert response.usage.cache_creation_input_tokens == 0
    assert response.usage.cache_read_input_tokens == 0


async def test_overloaded_is_retried_by_the_adapter_and_reported(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        error_response(529, "overloaded_error", "Overloaded", headers=FAST_RETRY),
        hi_there(),
    )
    with retries_heard() as heard:
        response = await make_model(retry=RetryPolicy(max_retries=2)).request(hello())
    assert response.text == "Hi there"
    first, second = server.requests
    assert first.body == second.body
    # Two requests of the SDK's, each its first attempt: the SDK did not retry, the adapter did.
    assert [r.headers["x-stainless-retry-count"] for r in (first, second)] == ["0", "0"]
    assert heard == [
        ModelRetrying(attempt=1, delay_s=0.01, error="model API returned HTTP 529: Overloaded")
    ]


async def test_bad_request_is_not_retried(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        error_response(400, "invalid_request_error", "max_tokens: too large", headers=FAST_RETRY),
        hi_there(),
    )
    with pytest.raises(ModelHTTPError) as caught:
        await make_model(retry=RetryPolicy(max_retries=4)).request(hello())
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
        await make_model(retry=RetryPolicy(max_retries=2)).request(hello())
    assert caught.value.status_code == 429
    assert len(server.requests) == 3
    assert server.pending == 1


async def test_connection_refused_is_unavailable(make_model: ModelFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on ``port`` any more.
    model = make_model(base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy(max_retries=0))
    with pytest.raises(ModelUnavailable) as caught:
        await model.request(hello())
    assert isinstance(caught.value.__cause__, anthropic.APIConnectionError)


async def test_timeout_is_unavailable(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(ScriptedResponse(200, None, delay=2.0))
    with pytest.raises(ModelUnavailable) as caught:
        await make_model(retry=RetryPolicy(max_retries=0), timeout=0.2).request(hello())
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
    model = AnthropicModel(MODEL, retry=RetryPolicy(max_retries=0))
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


# --- answers that cannot be understood ----------------------------------------------------------


def body_with(**changes: Any) -> dict[str, object]:
    """A well-formed message body with some top-level fields replaced (``None`` drops one)."""
    body = message_body([{"type": "text", "text": "Hi there"}], model=MODEL)
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        pytest.param(ScriptedResponse(200, b'{"type": "message", "content": [', JSON), "JSON"),
        pytest.param(
            ScriptedResponse(200, b"<html>Bad gateway</html>", {"content-type": "text/html"}),
            "JSON",
        ),
        pytest.param(ScriptedResponse(200, [1, 2]), "object"),
        pytest.param(ScriptedResponse(200, body_with(usage=None)), "usage: Field required"),
        pytest.param(
            ScriptedResponse(200, body_with(usage={"input_tokens": "many", "output_tokens": 1})),
            "usage.input_tokens",
        ),
        pytest.param(ScriptedResponse(200, body_with(content="Hi there")), "content"),
        pytest.param(
            ScriptedResponse(200, body_with(content=[{"type": "text"}])),
            "content.0.text: Field required",
        ),
        pytest.param(
            ScriptedResponse(
                200,
                body_with(
                    content=[
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "name": "get_weather", "input": {}},
                    ]
                ),
            ),
            "content.1.id: Field required",
        ),
    ],
    ids=[
        "truncated-json",
        "html",
        "json-array",
        "no-usage",
        "usage-not-a-number",
        "content-not-a-list",
        "text-block-without-text",
        "tool-use-without-id",
    ],
)
async def test_unreadable_answer_is_a_model_response_error(
    server: FakeAnthropicServer, make_model: ModelFactory, answer: ScriptedResponse, detail: str
) -> None:
    server.enqueue(answer, hi_there())
    with retries_heard() as heard, pytest.raises(ModelResponseError) as caught:
        await make_model().request(hello())
    assert str(caught.value) == "the model's answer could not be understood"
    assert detail in caught.value.detail
    assert "\n" not in caught.value.detail
    # Asking again would be billed again, for the same answer most likely.
    assert (len(server.requests), heard) == (1, [])


def overloaded_event() -> tuple[str, object]:
    return ("error", error_body("overloaded_error", "Overloaded"))


STREAMED = message_body(
    [{"type": "text", "text": "Checking the weather."}], model=MODEL, output_tokens=7
)


@pytest.mark.parametrize(
    ("events", "detail"),
    [
        pytest.param(message_events(STREAMED)[:-1], "message_stop"),
        pytest.param(message_events(STREAMED)[:3], "message_stop"),
        pytest.param(
            [*message_events(STREAMED)[:2], ("content_block_start", "{not json")], "malformed"
        ),
        pytest.param(
            [
                *message_events(STREAMED)[:2],
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 3,
                        "delta": {"type": "text_delta", "text": "?"},
                    },
                ),
                *message_events(STREAMED)[-2:],
            ],
            "IndexError",
        ),
        pytest.param(
            [("message_delta", message_events(STREAMED)[-2][1]), ("message_stop", {})],
            "malformed",
        ),
    ],
    ids=[
        "no-message-stop",
        "cut-off-mid-block",
        "broken-json",
        "delta-for-unknown-block",
        "no-message-start",
    ],
)
async def test_unreadable_stream_is_a_model_response_error(
    server: FakeAnthropicServer,
    make_model: ModelFactory,
    events: list[tuple[str, object]],
    detail: str,
) -> None:
    server.enqueue(stream_response(events), hi_there())
    with pytest.raises(ModelResponseError) as caught:
        await make_model().request(long(hello()))
    assert str(caught.value) == "the model's answer could not be understood"
    assert detail in caught.value.detail
    assert len(server.requests) == 1
    assert server.requests[0].body["stream"] is True


# --- retries: one layer, the adapter's ----------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503, 529])
async def test_retryable_statuses_are_retried_with_backoff(
    server: FakeAnthropicServer, make_model: ModelFactory, status: int
) -> None:
    server.enqueue(error_response(status, "api_error", "Try again"), hi_there())
    with retries_heard() as heard:
        response = await make_model(retry=QUICK).request(hello())
    assert response.text == "Hi there"
    assert len(server.requests) == 2
    [retrying] = heard
    assert retrying.attempt == 1
    # No retry-after: the first backoff wait, less up to a quarter of it.
    assert 0.00075 <= retrying.delay_s <= 0.001
    assert retrying.error == f"model API returned HTTP {status}: Try again"


async def test_retry_after_above_the_cap_is_capped(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        error_response(429, "rate_limit_error", "Slow down", headers={"retry-after": "120"}),
        hi_there(),
    )
    model = make_model(retry=RetryPolicy(max_retry_after=0.05))
    started = time.monotonic()
    with retries_heard() as heard:
        response = await asyncio.wait_for(model.request(hello()), timeout=10)
    assert response.text == "Hi there"
    assert time.monotonic() - started < 5
    assert [(r.attempt, r.delay_s) for r in heard] == [(1, 0.05)]


async def test_retry_after_within_the_cap_is_honoured(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        error_response(529, "overloaded_error", "Overloaded", headers={"retry-after": "0.2"}),
        error_response(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "30"}),
        hi_there(),
    )
    started = time.monotonic()
    with retries_heard() as heard:
        await make_model(retry=RetryPolicy(max_retry_after=1)).request(hello())
    assert time.monotonic() - started >= 0.23
    assert [(r.attempt, r.delay_s) for r in heard] == [(1, 0.2), (2, 0.03)]


async def test_x_should_retry_overrides_the_status(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        error_response(400, "invalid_request_error", "Odd", headers={"x-should-retry": "true"}),
        error_response(529, "overloaded_error", "Gone", headers={"x-should-retry": "false"}),
        hi_there(),
    )
    with retries_heard() as heard, pytest.raises(ModelHTTPError) as caught:
        await make_model(retry=RetryPolicy(max_retries=4, base_delay=0.001)).request(hello())
    assert caught.value.status_code == 529
    assert [r.error for r in heard] == ["model API returned HTTP 400: Odd"]
    assert server.pending == 1


async def test_timeouts_are_retried_and_reported(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(ScriptedResponse(200, None, delay=1.0), hi_there())
    with retries_heard() as heard:
        response = await make_model(timeout=0.2).request(hello())
    assert response.text == "Hi there"
    [retrying] = heard
    assert retrying.error.startswith("could not reach the Anthropic API at ")
    assert "timed out" in retrying.error


async def test_connection_refused_is_retried_then_unavailable(make_model: ModelFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = make_model(base_url=f"http://127.0.0.1:{port}", retry=QUICK)
    with retries_heard() as heard, pytest.raises(ModelUnavailable) as caught:
        await model.request(hello())
    assert [r.attempt for r in heard] == [1, 2]
    assert heard[0].error == str(caught.value)


async def test_the_sdk_does_not_retry_under_the_adapter(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    overloaded = error_response(529, "overloaded_error", "Overloaded", headers=FAST_RETRY)
    server.enqueue(overloaded, overloaded, overloaded, hi_there())
    model = make_model(retry=RetryPolicy(max_retries=1))
    assert model.client.max_retries == 0
    with retries_heard() as heard, pytest.raises(ModelHTTPError):
        await model.request(hello())
    # One retry, the adapter's: each request is the SDK's first attempt.
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "0"]
    assert len(heard) == 1


async def test_a_given_client_keeps_its_settings_but_not_its_retries(
    server: FakeAnthropicServer,
) -> None:
    overloaded = error_response(529, "overloaded_error", "Overloaded", headers=FAST_RETRY)
    server.enqueue(overloaded, overloaded, hi_there())
    async with anthropic.AsyncAnthropic(
        api_key=API_KEY,
        base_url=server.base_url,
        max_retries=2,
        default_headers={"x-team": "travel"},
    ) as client:
        model = AnthropicModel(MODEL, client=client, retry=RetryPolicy(max_retries=0))
        assert model.client is client
        with pytest.raises(ModelHTTPError):
            await model.request(hello())
        assert client.max_retries == 2  # the caller's client is left as it was
    [sent] = server.requests
    assert sent.headers["x-team"] == "travel"


async def test_an_error_inside_a_stream_is_retried(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    body = message_body([{"type": "text", "text": "Sunny."}], model=MODEL)
    server.enqueue(
        stream_response([*message_events(body)[:3], overloaded_event()]),
        ScriptedResponse(200, body),
    )
    with retries_heard() as heard:
        response = await make_model().request(long(hello()))
    assert response.text == "Sunny."
    assert [r.error for r in heard] == ["model API returned HTTP 529: Overloaded"]
    assert len(server.requests) == 2


async def test_a_refusal_inside_a_stream_is_not_retried(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    invalid = ("error", error_body("invalid_request_error", "prompt is too long"))
    server.enqueue(stream_response([*message_events(STREAMED)[:2], invalid]), hi_there())
    with pytest.raises(ModelHTTPError) as caught:
        await make_model().request(long(hello()))
    assert caught.value.status_code == 400
    assert "prompt is too long" in str(caught.value)
    assert len(server.requests) == 1


# --- long outputs are streamed -------------------------------------------------------------------


def test_the_timeout_defaults_to_the_sdks() -> None:
    model = AnthropicModel(MODEL, api_key=API_KEY)
    assert model.client.timeout == anthropic.DEFAULT_TIMEOUT
    assert model.client.max_retries == 0
    assert AnthropicModel(MODEL, api_key=API_KEY, timeout=5).client.timeout == 5


async def test_a_large_max_tokens_is_streamed(
    server: FakeAnthropicServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        message_response(
            [
                {"type": "thinking", "thinking": "Paris, then.", "signature": "sig"},
                {"type": "text", "text": "Checking the weather."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris", "units": {"temperature": "C"}},
                },
            ],
            stop_reason="tool_use",
            model="claude-sonnet-5-20270101",
            input_tokens=120,
            output_tokens=4000,
            cache_creation_input_tokens=1000,
            cache_read_input_tokens=2000,
        )
    )
    request = long(dataclasses.replace(hello(), tools=(WEATHER,)))
    response = await make_model().request(request)

    assert response.content == (
        ThinkingBlock(thinking="Paris, then.", signature="sig"),
        TextBlock(text="Checking the weather."),
        ToolUseBlock(
            id="toolu_1", name="get_weather", input={"city": "Paris", "units": {"temperature": "C"}}
        ),
    )
    assert response.stop_reason == "tool_use"
    assert response.model == "claude-sonnet-5-20270101"
    assert response.usage == Usage(
        input_tokens=120,
        output_tokens=4000,
        cache_creation_input_tokens=1000,
        cache_read_input_tokens=2000,
    )
    [sent] = server.requests
    assert sent.body["stream"] is True
    assert sent.body["max_tokens"] == 64_000
    # Prompt caching is the same whether streamed or not.
    assert sent.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.body["tools"][-1]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize(
    ("model_name", "max_tokens", "streamed"),
    [
        (MODEL, 4096, False),
        (MODEL, STREAMING_MAX_TOKENS, False),
        (MODEL, STREAMING_MAX_TOKENS + 1, True),
        # The SDK holds some models to a lower limit of their own.
        ("claude-opus-4-0", 8192, False),
        ("claude-opus-4-0", 8193, True),
    ],
)
async def test_streaming_starts_where_the_sdk_would_require_it(
    server: FakeAnthropicServer,
    make_model: ModelFactory,
    model_name: str,
    max_tokens: int,
    streamed: bool,
) -> None:
    server.enqueue(hi_there())
    model = make_model()
    model = AnthropicModel(model_name, client=model.client, retry=model.retry)
    response = await model.request(long(hello(), max_tokens))
    assert response.text == "Hi there"
    [sent] = server.requests
    assert sent.body.get("stream", False) is streamed


@pytest.mark.parametrize(
    ("api", "ours"),
    [("refusal", "refusal"), ("pause_turn", "pause_turn"), ("max_tokens", "max_tokens")],
)
async def test_stop_reasons_pass_through_a_stream(
    server: FakeAnthropicServer, make_model: ModelFactory, api: str, ours: str
) -> None:
    server.enqueue(message_response([{"type": "text", "text": "No."}], stop_reason=api))
    response = await make_model().request(long(hello()))
    assert (response.text, response.stop_reason) == ("No.", ours)
    assert server.requests[0].body["stream"] is True
