"""OpenAIResponsesModel against the real SDK client and a local server speaking the Responses API.

The same conformance cases as the Chat Completions adapter's (tests/models/test_openai.py):
the encoding of a whole conversation, tool choice, stop reasons and refusals, malformed
arguments, the one retry layer, errors, timeouts, keys, unreadable answers, blocked requests.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import openai
import pytest

from agentflow import Agent, tool
from agentflow.attachments import attachment
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
    ModelSettings,
    TextBlock,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.models.base import block_model_requests
from agentflow.models.deltas import delta_listener
from agentflow.models.openai_responses import OpenAIResponsesModel
from agentflow.models.retries import RetryPolicy, retry_listener
from agentflow.testing.anthropic_server import ScriptedResponse, SSEEvent, stream_response
from agentflow.testing.openai_server import (
    FakeResponsesServer,
    function_call_item,
    openai_error_response,
    responses_body,
    responses_events,
    responses_response,
)
from tests.models.adapters import FAST_RETRY, hello, model_factory

MODEL = "gpt-test"
WEATHER = ToolDefinition(
    name="get_weather",
    description="Current weather for a city.",
    input_schema={"type": "object", "properties": {"city": {"type": "string"}}},
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16

ModelFactory = Callable[..., OpenAIResponsesModel]


@pytest.fixture
def server() -> Iterator[FakeResponsesServer]:
    with FakeResponsesServer() as fake:
        yield fake


@pytest.fixture
async def make_model(server: FakeResponsesServer) -> AsyncIterator[ModelFactory]:
    """Builds models aimed at ``server`` (unless told otherwise) and closes their clients."""
    build = functools.partial(OpenAIResponsesModel, MODEL)
    async with model_factory(build, base_url=server.base_url, api_key="sk-test") as make:
        yield make


async def test_a_conversation_is_encoded_as_input_items_and_the_answer_decoded(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    chart = attachment(PNG, "image/png")
    request = ModelRequest(
        system="Be brief.",
        messages=(
            Message(role="user", content=(TextBlock(text="weather in Bern?"), chart)),
            Message(
                role="assistant",
                content=(
                    TextBlock(text="Checking."),
                    ToolUseBlock(id="call_1", name="get_weather", input={"city": "Bern"}),
                ),
            ),
            Message(
                role="user",
                content=(
                    ToolResultBlock(tool_use_id="call_1", content="12C", attachments=(chart,)),
                ),
            ),
        ),
        tools=(WEATHER,),
        max_tokens=300,
        settings=ModelSettings(temperature=0.5),
        user="ann",
    )
    server.enqueue(
        responses_response(
            text="Cold.",
            calls=[function_call_item("get_weather", {"city": "Basel"}, call_id="call_2")],
            input_tokens=100,
            cached_tokens=60,
            output_tokens=7,
            id="resp_9",
        )
    )
    response = await make_model().request(request)
    assert response.content == (
        TextBlock(text="Cold."),
        ToolUseBlock(id="call_2", name="get_weather", input={"city": "Basel"}),
    )
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(input_tokens=40, output_tokens=7, cache_read_input_tokens=60)
    assert response.id == "resp_9"
    [sent] = server.requests
    assert sent.path == "/v1/responses"
    body = sent.body
    url = f"data:image/png;base64,{chart.data}"
    assert body["instructions"] == "Be brief."
    assert body["store"] is False
    assert body["max_output_tokens"] == 300
    assert body["temperature"] == 0.5
    assert len(body["safety_identifier"]) == 64
    assert body["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "weather in Bern?"},
                {"type": "input_image", "image_url": url},
            ],
        },
        {"role": "assistant", "content": "Checking."},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Bern"}',
        },
        {
            "type": "function_call_output",
            "call_id": "call_1",
            # Unlike a Chat Completions tool message, the output holds the tool's image.
            "output": [
                {"type": "input_text", "text": "12C"},
                {"type": "input_image", "image_url": url},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": WEATHER.input_schema,
            "strict": False,
        }
    ]
    assert body["tool_choice"] == "auto"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("any", "required"),
        ("get_weather", {"type": "function", "name": "get_weather"}),
    ],
)
async def test_tool_choice_mapping(
    server: FakeResponsesServer, make_model: ModelFactory, choice: str, expected: object
) -> None:
    server.enqueue(responses_response(text="x"))
    await make_model().request(
        ModelRequest(system="", messages=hello().messages, tools=(WEATHER,), tool_choice=choice)
    )
    assert server.requests[0].body["tool_choice"] == expected
    assert "instructions" not in server.requests[0].body


@pytest.mark.parametrize(
    ("fields", "stop"),
    [
        ({"text": "x"}, "end_turn"),
        (
            {"text": "x", "status": "incomplete", "incomplete_reason": "max_output_tokens"},
            "max_tokens",
        ),
        ({"text": "x", "status": "incomplete", "incomplete_reason": "content_filter"}, "refusal"),
        ({"refusal": "I can't help with that."}, "refusal"),
    ],
)
async def test_stop_reasons_and_refusals_are_mapped(
    server: FakeResponsesServer, make_model: ModelFactory, fields: dict[str, Any], stop: str
) -> None:
    server.enqueue(responses_response(**fields))
    response = await make_model().request(hello())
    assert response.stop_reason == stop
    assert response.text


async def test_arguments_that_are_not_json_come_back_as_they_are(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    server.enqueue(responses_response(calls=[function_call_item("get_weather", "{city: Bern")]))
    response = await make_model().request(hello())
    assert response.tool_calls[0].input == "{city: Bern"


async def test_a_server_error_is_retried_by_the_adapter_and_reported(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        openai_error_response(503, "Overloaded", headers=FAST_RETRY),
        responses_response(text="Hi there"),
    )
    heard: list[ModelRetrying] = []
    with retry_listener(heard.append):
        response = await make_model().request(hello())
    assert response.text == "Hi there"
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "0"]
    assert heard == [
        ModelRetrying(attempt=1, delay_s=0.01, error="model API returned HTTP 503: Overloaded")
    ]


async def test_a_bad_request_is_not_retried(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    server.enqueue(openai_error_response(400, "bad tools"), responses_response(text="x"))
    with pytest.raises(ModelHTTPError) as caught:
        await make_model().request(hello())
    assert caught.value.status_code == 400 and "bad tools" in str(caught.value)
    assert isinstance(caught.value.__cause__, openai.APIStatusError)
    assert len(server.requests) == 1


async def test_a_rate_limit_beyond_max_retries_is_raised(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    limited = openai_error_response(429, "Slow down", headers=FAST_RETRY)
    server.enqueue(limited, limited, limited, responses_response(text="x"))
    with pytest.raises(ModelHTTPError) as caught:
        await make_model().request(hello())
    assert caught.value.status_code == 429
    assert len(server.requests) == 3


async def test_connection_refused_is_unavailable(make_model: ModelFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = make_model(base_url=f"http://127.0.0.1:{port}/v1", retry=RetryPolicy(max_retries=0))
    with pytest.raises(ModelUnavailable):
        await model.request(hello())


async def test_a_timeout_is_unavailable(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    server.enqueue(ScriptedResponse(200, responses_body(text="late"), delay=2.0))
    with pytest.raises(ModelUnavailable):
        await make_model(retry=RetryPolicy(max_retries=0), timeout=0.2).request(hello())


def test_a_missing_api_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIResponsesModel(MODEL)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway error</html>",
        {"object": "response", "model": MODEL},
        {"object": "response", "model": MODEL, "output": [{"type": "function_call", "name": 7}]},
        {"object": "response", "model": MODEL, "status": "failed", "output": []},
    ],
)
async def test_an_unreadable_answer_is_a_response_error_and_not_retried(
    server: FakeResponsesServer, make_model: ModelFactory, body: object
) -> None:
    headers = {"content-type": "application/json"} if isinstance(body, bytes) else {}
    server.enqueue(ScriptedResponse(200, body, headers), responses_response(text="x"))
    with pytest.raises(ModelResponseError):
        await make_model().request(hello())
    assert len(server.requests) == 1


async def test_real_requests_can_be_blocked(make_model: ModelFactory) -> None:
    with block_model_requests(), pytest.raises(ConfigurationError, match="blocked"):
        await make_model().request(hello())


async def test_stop_sequences_are_refused_before_a_request(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    request = ModelRequest(
        system="", messages=hello().messages, settings=ModelSettings(stop_sequences=("END",))
    )
    with pytest.raises(ConfigurationError, match="no stop sequences"):
        await make_model().request(request)
    assert server.requests == []


STREAMED_BODIES = [
    responses_body(
        text="Here is the weather.",
        calls=[
            function_call_item("get_weather", {"city": "Bern"}, call_id="call_a"),
            function_call_item("get_weather", {"city": "Chur"}, call_id="call_b"),
        ],
        cached_tokens=4,
        id="resp_streamed",
    ),
    responses_body(text="Cut sho", status="incomplete", incomplete_reason="max_output_tokens"),
    responses_body(refusal="I can't help with that."),
]


@pytest.mark.parametrize("body", STREAMED_BODIES)
async def test_with_a_listener_the_answer_is_streamed_and_equals_the_unstreamed_one(
    server: FakeResponsesServer, make_model: ModelFactory, body: dict[str, Any]
) -> None:
    server.enqueue(ScriptedResponse(200, body), ScriptedResponse(200, body))
    pieces: list[str] = []
    model = make_model()
    with delta_listener(pieces.append):
        streamed = await model.request(hello())
    whole = await model.request(hello())
    assert server.requests[0].body["stream"] is True
    assert server.requests[1].body["stream"] is False
    assert streamed == whole
    assert "".join(pieces) == (whole.text if whole.stop_reason != "refusal" else "")
    if body["id"] == "resp_streamed":
        assert pieces == ["Here is th", "e weather."]
        assert streamed.id == "resp_streamed"
        assert [c.input for c in streamed.tool_calls] == [{"city": "Bern"}, {"city": "Chur"}]
        assert streamed.usage == Usage(input_tokens=6, output_tokens=5, cache_read_input_tokens=4)


async def test_text_reaches_the_listener_before_the_answer_is_complete(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    hold = threading.Event()
    server.enqueue(ScriptedResponse(200, responses_body(text="Hello there"), hold=hold))
    pieces: list[str] = []
    first = asyncio.Event()

    def heard(piece: str) -> None:
        pieces.append(piece)
        first.set()

    with delta_listener(heard):
        call = asyncio.create_task(make_model().request(hello()))
        try:
            await first.wait()
            # The server holds back the second half of its events until told to go on.
            assert pieces == ["Hello"]
            assert not call.done()
        finally:
            hold.set()
        response = await call
    assert pieces == ["Hello", " there"]
    assert response.text == "Hello there"


def _failed_event(body: dict[str, Any]) -> SSEEvent:
    failed = {
        **body,
        "status": "failed",
        "error": {"code": "server_error", "message": "overloaded"},
    }
    return ("response.failed", {"type": "response.failed", "response": failed})


@pytest.mark.parametrize(
    "failure",
    [
        ("error", {"type": "error", "code": "server_error", "message": "overloaded"}),
        _failed_event(responses_body(text="Hel")),
    ],
    ids=["error-event", "response-failed"],
)
async def test_a_failure_inside_a_stream_is_retried(
    server: FakeResponsesServer, make_model: ModelFactory, failure: SSEEvent
) -> None:
    started = responses_events(responses_body(text="Hello"))[:5]  # up to the first piece
    server.enqueue(stream_response([*started, failure]), responses_response(text="fine"))
    heard: list[ModelRetrying] = []
    pieces: list[str] = []
    with retry_listener(heard.append), delta_listener(pieces.append):
        response = await make_model().request(hello())
    assert response.text == "fine"
    assert pieces == ["He", "fi", "ne"]
    assert len(heard) == 1
    assert heard[0].error == "model API returned HTTP 500: overloaded"


async def test_a_stream_that_ends_before_its_final_event_is_unreadable(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    cut = responses_events(responses_body(text="Hello there"))[:6]
    server.enqueue(stream_response(cut), responses_response(text="fine"))
    with delta_listener(lambda _: None), pytest.raises(ModelResponseError) as caught:
        await make_model().request(hello())
    assert "response.completed" in caught.value.detail
    assert len(server.requests) == 1


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"{city}: 12C"


async def test_an_agent_runs_a_tool_through_it(
    server: FakeResponsesServer, make_model: ModelFactory
) -> None:
    server.enqueue(
        responses_response(calls=[function_call_item("get_weather", {"city": "Bern"})]),
        responses_response(text="12C in Bern."),
    )
    result = await Agent(make_model(), tools=[get_weather]).run("weather in Bern?")
    assert result.text == "12C in Bern."
    output = server.requests[1].body["input"][-1]
    assert output == {"type": "function_call_output", "call_id": "call_1", "output": "Bern: 12C"}


def test_it_is_named_openai_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentflow.models import infer_model

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = infer_model("openai-responses:gpt-5")
    assert isinstance(model, OpenAIResponsesModel) and model.name == "gpt-5"
