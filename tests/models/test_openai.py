"""OpenAIModel against the real SDK client and a local server speaking Chat Completions."""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import openai
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
    TextBlock,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.models.base import block_model_requests
from agentflow.models.deltas import delta_listener
from agentflow.models.openai import OpenAIModel
from agentflow.models.retries import RetryPolicy, retry_listener
from agentflow.testing.anthropic_server import ScriptedResponse
from agentflow.testing.openai_server import (
    FakeOpenAIServer,
    completion_body,
    completion_response,
    openai_error_body,
    openai_error_response,
    tool_call_body,
)
from tests.models.adapters import FAST_RETRY, hello, model_factory

MODEL = "gpt-test"
WEATHER = ToolDefinition(
    name="get_weather",
    description="Current weather for a city.",
    input_schema={"type": "object", "properties": {"city": {"type": "string"}}},
)

ModelFactory = Callable[..., OpenAIModel]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
async def make_model(server: FakeOpenAIServer) -> AsyncIterator[ModelFactory]:
    """Builds models aimed at ``server`` (unless told otherwise) and closes their clients."""
    build = functools.partial(OpenAIModel, MODEL)
    async with model_factory(build, base_url=server.base_url, api_key="sk-test") as make:
        yield make


def conversation() -> ModelRequest:
    """A turn with a tool call, its result, and a follow-up: every message kind."""
    return ModelRequest(
        system="Be brief.",
        messages=(
            Message(role="user", content=(TextBlock(text="weather in Bern?"),)),
            Message(
                role="assistant",
                content=(
                    TextBlock(text="Checking."),
                    ToolUseBlock(id="call_1", name="get_weather", input={"city": "Bern"}),
                ),
            ),
            Message(
                role="user",
                content=(ToolResultBlock(tool_use_id="call_1", content="sunny", is_error=False),),
            ),
        ),
        tools=(WEATHER,),
        tool_choice="any",
        max_tokens=321,
    )


@contextlib.contextmanager
def retries_heard() -> Iterator[list[ModelRetrying]]:
    heard: list[ModelRetrying] = []
    with retry_listener(heard.append):
        yield heard


async def test_a_conversation_is_encoded_as_chat_messages_and_the_answer_decoded(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        completion_response(
            content="Calling again.",
            tool_calls=[tool_call_body("get_weather", {"city": "Basel"}, id="call_2")],
            model="gpt-test-2027",
            prompt_tokens=120,
            completion_tokens=40,
            cached_tokens=100,
            id="chatcmpl-B9xQ",
        )
    )
    response = await make_model().request(conversation())
    body = server.requests[0].body
    assert server.requests[0].path == "/v1/chat/completions"
    assert body["model"] == MODEL
    assert body["max_completion_tokens"] == 321
    assert body["tool_choice"] == "required"
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": WEATHER.input_schema,
            },
        }
    ]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "weather in Bern?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Bern"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    assert response.content == (
        TextBlock(text="Calling again."),
        ToolUseBlock(id="call_2", name="get_weather", input={"city": "Basel"}),
    )
    assert response.stop_reason == "tool_use"
    assert response.model == "gpt-test-2027"
    assert response.id == "chatcmpl-B9xQ"  # the trail's gen_ai.response.id
    assert response.usage == Usage(input_tokens=20, output_tokens=40, cache_read_input_tokens=100)


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("any", "required"),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
async def test_tool_choice_mapping(
    server: FakeOpenAIServer, make_model: ModelFactory, choice: str, sent: object
) -> None:
    server.enqueue(completion_response(content="ok"))
    request = ModelRequest(
        system="", messages=hello().messages, tools=(WEATHER,), tool_choice=choice
    )
    await make_model().request(request)
    body = server.requests[0].body
    assert body["tool_choice"] == sent
    assert body["messages"] == [{"role": "user", "content": "hi"}]  # no empty system message


async def test_no_tools_means_no_tools_and_no_tool_choice(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    server.enqueue(completion_response(content="ok"))
    await make_model().request(hello())
    assert "tools" not in server.requests[0].body
    assert "tool_choice" not in server.requests[0].body


@pytest.mark.parametrize(
    ("finish", "refusal", "stop"),
    [
        ("stop", None, "end_turn"),
        ("length", None, "max_tokens"),
        ("content_filter", None, "refusal"),
        ("stop", "I can't help with that.", "refusal"),
        ("something_new", None, None),
    ],
)
async def test_finish_reasons_and_refusals_are_mapped(
    server: FakeOpenAIServer,
    make_model: ModelFactory,
    finish: str,
    refusal: str | None,
    stop: str | None,
) -> None:
    server.enqueue(completion_response(content="x", finish_reason=finish, refusal=refusal))
    response = await make_model().request(hello())
    assert response.stop_reason == stop


async def test_arguments_that_are_not_json_come_back_as_they_are(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    server.enqueue(completion_response(tool_calls=[tool_call_body("get_weather", "{city: Bern")]))
    response = await make_model().request(hello())
    assert response.tool_calls[0].input == "{city: Bern"


async def test_a_server_error_is_retried_by_the_adapter_and_reported(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        openai_error_response(503, "Overloaded", headers=FAST_RETRY),
        completion_response(content="Hi there"),
    )
    with retries_heard() as heard:
        response = await make_model().request(hello())
    assert response.text == "Hi there"
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "0"]
    assert heard == [
        ModelRetrying(attempt=1, delay_s=0.01, error="model API returned HTTP 503: Overloaded")
    ]


async def test_a_bad_request_is_not_retried(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    server.enqueue(openai_error_response(400, "bad tools"), completion_response(content="x"))
    with pytest.raises(ModelHTTPError) as caught:
        await make_model().request(hello())
    assert caught.value.status_code == 400
    assert "bad tools" in str(caught.value)
    assert isinstance(caught.value.__cause__, openai.APIStatusError)
    assert len(server.requests) == 1


async def test_a_rate_limit_beyond_max_retries_is_raised(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    limited = openai_error_response(429, "Slow down", headers=FAST_RETRY)
    server.enqueue(limited, limited, limited, completion_response(content="x"))
    with pytest.raises(ModelHTTPError) as caught:
        await make_model().request(hello())
    assert caught.value.status_code == 429
    assert len(server.requests) == 3


async def test_x_should_retry_false_is_obeyed(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        openai_error_response(500, "no", headers={"x-should-retry": "false"}),
        completion_response(content="x"),
    )
    with pytest.raises(ModelHTTPError):
        await make_model().request(hello())
    assert len(server.requests) == 1


async def test_connection_refused_is_unavailable(make_model: ModelFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = make_model(base_url=f"http://127.0.0.1:{port}/v1", retry=RetryPolicy(max_retries=0))
    with pytest.raises(ModelUnavailable) as caught:
        await model.request(hello())
    assert isinstance(caught.value.__cause__, openai.APIConnectionError)


async def test_a_timeout_is_unavailable(server: FakeOpenAIServer, make_model: ModelFactory) -> None:
    server.enqueue(ScriptedResponse(200, completion_body(content="late"), delay=2.0))
    with pytest.raises(ModelUnavailable):
        await make_model(retry=RetryPolicy(max_retries=0), timeout=0.2).request(hello())


def test_a_missing_api_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIModel(MODEL)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway error</html>",
        {"object": "chat.completion", "model": MODEL, "choices": []},
        {"object": "chat.completion", "model": MODEL, "choices": [{"message": {"content": 7}}]},
    ],
)
async def test_an_unreadable_answer_is_a_response_error_and_not_retried(
    server: FakeOpenAIServer, make_model: ModelFactory, body: object
) -> None:
    headers = {"content-type": "application/json"} if isinstance(body, bytes) else {}
    server.enqueue(ScriptedResponse(200, body, headers), completion_response(content="x"))
    with pytest.raises(ModelResponseError):
        await make_model().request(hello())
    assert len(server.requests) == 1


async def test_real_requests_can_be_blocked(make_model: ModelFactory) -> None:
    with block_model_requests(), pytest.raises(ConfigurationError, match="blocked"):
        await make_model().request(hello())


async def test_with_a_listener_the_answer_is_streamed_piece_by_piece(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    body = completion_body(
        content="Here is the weather.",
        tool_calls=[
            tool_call_body("get_weather", {"city": "Bern"}, id="call_a"),
            tool_call_body("get_weather", {"city": "Chur"}, id="call_b"),
        ],
        cached_tokens=4,
        id="chatcmpl-streamed",
    )
    server.enqueue(ScriptedResponse(200, body), ScriptedResponse(200, body))
    pieces: list[str] = []
    model = make_model()
    with delta_listener(pieces.append):
        streamed = await model.request(hello())
    whole = await model.request(hello())
    assert server.requests[0].body["stream"] is True
    assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert server.requests[1].body["stream"] is False
    assert pieces == ["Here is th", "e weather."]
    assert streamed == whole
    assert streamed.id == "chatcmpl-streamed"
    assert [c.input for c in streamed.tool_calls] == [{"city": "Bern"}, {"city": "Chur"}]
    assert streamed.usage.cache_read_input_tokens == 4


async def test_a_stream_cut_before_its_finish_is_unreadable(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    cut = b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
    cut += b'"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
    server.enqueue(ScriptedResponse(200, cut, {"content-type": "text/event-stream"}))
    with delta_listener(lambda _: None), pytest.raises(ModelResponseError) as caught:
        await make_model().request(hello())
    assert "finish reason" in caught.value.detail


async def test_an_error_inside_a_stream_is_retried(
    server: FakeOpenAIServer, make_model: ModelFactory
) -> None:
    failing = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    server.enqueue(
        ScriptedResponse(200, failing, {"content-type": "text/event-stream"}),
        ScriptedResponse(200, completion_body(content="fine")),
    )
    with retries_heard() as heard, delta_listener(lambda _: None):
        response = await make_model().request(hello())
    assert response.text == "fine"
    assert len(heard) == 1
    assert "overloaded" in heard[0].error


async def test_the_error_body_is_kept(server: FakeOpenAIServer, make_model: ModelFactory) -> None:
    server.enqueue(openai_error_response(404, "no such model"))
    with pytest.raises(ModelHTTPError) as caught:
        await make_model().request(hello())
    assert caught.value.body == openai_error_body("no such model")["error"]
