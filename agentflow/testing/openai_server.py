"""Local stand-ins for the OpenAI Chat Completions and Responses APIs, for tests.

It is served the same way as `FakeAnthropicServer`
(scripted responses in order, every request recorded), so tests point the real ``openai`` SDK
at it and exercise the SDK's own encoding, errors and stream parsing::

    with FakeOpenAIServer(completion_response(content="hi")) as server:
        model = OpenAIModel("gpt-test", api_key="test", base_url=server.base_url)
        ...

A request with ``"stream": true`` that is scripted a 200 completion body gets it as the chunk
stream the API sends (`completion_chunks`): the text in two pieces, each tool call's
arguments in two pieces, the finish reason, then a usage chunk and ``[DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from agentflow.testing.anthropic_server import (
    FakeAnthropicServer,
    ScriptedResponse,
    SSEEvent,
    sse_body,
)

__all__ = [
    "FakeOpenAIServer",
    "FakeResponsesServer",
    "function_call_item",
    "responses_body",
    "responses_events",
    "responses_response",
    "completion_body",
    "completion_chunks",
    "completion_response",
    "openai_error_body",
    "openai_error_response",
    "tool_call_body",
]


def tool_call_body(name: str, arguments: object, *, id: str = "call_1") -> dict[str, object]:
    """One ``tool_calls[]`` entry; ``arguments`` is JSON-encoded unless it is a ``str``."""
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": encoded}}


def completion_body(
    *,
    content: str | None = None,
    tool_calls: Sequence[Mapping[str, object]] = (),
    finish_reason: str | None = None,
    refusal: str | None = None,
    model: str = "gpt-test",
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int | None = None,
    id: str = "chatcmpl-test",
) -> dict[str, object]:
    """A ``chat.completion`` success body with one choice (``id``: the completion's)."""
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_calls else "stop"
    message: dict[str, object] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = [dict(call) for call in tool_calls]
    usage: dict[str, object] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return {
        "id": id,
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage,
    }


def completion_response(**fields: Any) -> ScriptedResponse:
    """A 200 answer carrying `completion_body` (keyword ``fields`` are passed on)."""
    return ScriptedResponse(200, completion_body(**fields))


def openai_error_body(message: str, error_type: str = "server_error") -> dict[str, object]:
    return {"error": {"message": message, "type": error_type, "param": None, "code": None}}


def openai_error_response(
    status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> ScriptedResponse:
    """An error answer with status ``status`` and an `openai_error_body`."""
    return ScriptedResponse(status, openai_error_body(message), dict(headers or {}))


def completion_chunks(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects the API streams for ``body``."""
    choice = cast(Mapping[str, Any], body["choices"][0])
    message = cast(Mapping[str, Any], choice["message"])
    base = {key: body[key] for key in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    text = message.get("content") or ""
    for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
        if piece:
            chunks.append(chunk({"content": piece}))
    if message.get("refusal"):
        chunks.append(chunk({"refusal": message["refusal"]}))
    for index, call in enumerate(message.get("tool_calls") or []):
        arguments = str(call["function"]["arguments"])
        function = {"name": call["function"]["name"], "arguments": arguments[: len(arguments) // 2]}
        head = {"index": index, "id": call["id"], "type": "function", "function": function}
        chunks.append(chunk({"tool_calls": [head]}))
        rest = {"arguments": arguments[len(arguments) // 2 :]}
        chunks.append(chunk({"tool_calls": [{"index": index, "function": rest}]}))
    chunks.append(chunk({}, choice.get("finish_reason")))
    chunks.append({**base, "choices": [], "usage": body.get("usage")})
    return chunks


class FakeOpenAIServer(FakeAnthropicServer):
    """`FakeAnthropicServer`'s machinery, answering ``POST /v1/chat/completions``."""

    route = "/v1/chat/completions"
    exhausted = ScriptedResponse(
        500,
        openai_error_body("FakeOpenAIServer: no scripted response left for this request"),
        {"x-should-retry": "false"},
    )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: what to give the SDK as ``base_url``."""
        return f"{super().base_url}/v1"

    def not_found(self, path: str) -> object:
        return openai_error_body(f"no route for POST {path}", "invalid_request_error")

    def event_stream(self, body: object) -> bytes | None:
        if not isinstance(body, Mapping):
            return None
        if cast(Mapping[str, Any], body).get("object") != "chat.completion":
            return None
        events = completion_chunks(cast(Mapping[str, Any], body))
        lines = [f"data: {json.dumps(event)}\n\n" for event in events]
        return ("".join(lines) + "data: [DONE]\n\n").encode()


def function_call_item(
    name: str, arguments: object, *, call_id: str = "call_1"
) -> dict[str, object]:
    """One ``function_call`` output item of the Responses API (``arguments`` JSON-encoded)."""
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": encoded,
        "status": "completed",
    }


def responses_body(
    *,
    text: str | None = None,
    calls: Sequence[Mapping[str, object]] = (),
    refusal: str | None = None,
    status: str = "completed",
    incomplete_reason: str | None = None,
    model: str = "gpt-test",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cached_tokens: int = 0,
    id: str = "resp_test",
) -> dict[str, object]:
    """A Responses API ``response`` body: a message with ``text`` or ``refusal``, then ``calls``."""
    output: list[dict[str, object]] = []
    parts: list[dict[str, object]] = []
    if text is not None:
        parts.append({"type": "output_text", "text": text, "annotations": []})
    if refusal is not None:
        parts.append({"type": "refusal", "refusal": refusal})
    if parts:
        output.append(
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": status,
                "content": parts,
            }
        )
    output += [dict(call) for call in calls]
    return {
        "id": id,
        "object": "response",
        "created_at": 0,
        "model": model,
        "status": status,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "output": output,
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached_tokens},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
    }


def responses_response(**fields: Any) -> ScriptedResponse:
    """A 200 answer carrying `responses_body` (``fields`` are passed on to it)."""
    return ScriptedResponse(200, responses_body(**fields))


def responses_events(body: Mapping[str, Any]) -> list[SSEEvent]:
    """The events the Responses API streams for ``body``, each named by its ``type``.

    ``response.created`` and ``response.in_progress`` (no output yet); each output item added,
    its text, refusal or arguments in two pieces and the whole of each when done; then
    ``response.completed`` (``response.incomplete``, ``response.failed``, by ``status``) with
    the whole response.
    """
    events: list[dict[str, Any]] = []
    started: dict[str, Any] = {**body, "status": "in_progress", "output": [], "usage": None}

    def event(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    def halves(text: str) -> list[str]:
        return [piece for piece in (text[: len(text) // 2], text[len(text) // 2 :]) if piece]

    event("response.created", response=started)
    event("response.in_progress", response=started)
    for index, item in enumerate(cast(Sequence[Mapping[str, Any]], body["output"])):
        where = {"item_id": item.get("id", ""), "output_index": index}
        if item.get("type") == "message":
            event("response.output_item.added", output_index=index, item={**item, "content": []})
            for part_index, part in enumerate(cast(Sequence[Mapping[str, Any]], item["content"])):
                at = {**where, "content_index": part_index}
                kind = "output_text" if part["type"] == "output_text" else "refusal"
                field = "text" if kind == "output_text" else "refusal"
                event("response.content_part.added", **at, part={**part, field: ""})
                for piece in halves(str(part[field])):
                    event(f"response.{kind}.delta", **at, delta=piece)
                event(f"response.{kind}.done", **at, **{field: part[field]})
                event("response.content_part.done", **at, part=dict(part))
        elif item.get("type") == "function_call":
            added = {**item, "arguments": "", "status": "in_progress"}
            event("response.output_item.added", output_index=index, item=added)
            arguments = str(item["arguments"])
            for piece in halves(arguments):
                event("response.function_call_arguments.delta", **where, delta=piece)
            event("response.function_call_arguments.done", **where, arguments=arguments)
        else:
            event("response.output_item.added", output_index=index, item=dict(item))
        event("response.output_item.done", output_index=index, item=dict(item))
    ending = {"incomplete": "response.incomplete", "failed": "response.failed"}
    event(ending.get(str(body.get("status")), "response.completed"), response=dict(body))
    return [(e["type"], e) for e in events]


class FakeResponsesServer(FakeOpenAIServer):
    """`FakeOpenAIServer`'s machinery, answering ``POST /v1/responses``.

    A request with ``"stream": true`` that is scripted a 200 response body gets it as the
    event stream the API sends (`responses_events`); ``hold`` pauses it half-way.
    """

    route = "/v1/responses"

    def event_stream(self, body: object) -> bytes | None:
        if not isinstance(body, Mapping):
            return None
        if cast(Mapping[str, Any], body).get("object") != "response":
            return None
        return sse_body(responses_events(cast(Mapping[str, Any], body)))
