"""A local stand-in for the Anthropic Messages API, for tests.

Tests point the real ``anthropic`` SDK at it (``base_url``), so they exercise the SDK's own request
encoding, error handling and stream parsing instead of a mock of them. Responses are scripted and
served in order, one per request; every request that arrives is recorded with its decoded body
and headers::

    with FakeAnthropicServer(
        error_response(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "10"}),
        message_response([{"type": "text", "text": "hi"}]),
    ) as server:
        model = AnthropicModel(api_key="test", base_url=server.base_url)
        ...
    assert len(server.requests) == 2

A request that asks for a stream (``"stream": true``, as ``client.messages.stream(...)`` sends)
and is scripted a 200 message body gets that message as a server-sent event stream
(`message_events`), so the SDK's stream parser and accumulator run on it. Odd streams
(an ``error`` event after the 200, a stream cut short) are scripted event by event with
`stream_response`.

Given a `PromptCacheSimulator` (``prompt_cache=``), the
server counts each request's input tokens the way the API's prompt cache would (what it reads,
what it writes, the rest) and puts those figures in the usage of the scripted message it sends.

When the script runs out the server answers 500 with ``x-should-retry: false`` (so the SDK does not
retry it) and a message saying so, which makes a missing scripted response easy to spot.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

from agentflow.testing.prompt_cache import CacheRefusal, PromptCacheSimulator

__all__ = [
    "FakeAnthropicServer",
    "RecordedRequest",
    "ScriptedResponse",
    "error_body",
    "error_response",
    "message_body",
    "message_events",
    "message_response",
    "sse_body",
    "stream_response",
]


@dataclass(frozen=True)
class ScriptedResponse:
    """One answer the server gives, in order.

    ``body`` is sent as JSON unless it is ``bytes`` (sent as is), or as an event stream when the
    request asked for one and this is a 200 message body. A ``content-type`` in ``headers``
    replaces the server's own. ``delay`` (seconds) is slept before answering, e.g. to provoke a
    client timeout. With ``hold``, an answer sent as an event stream stops after the first half
    of its events until ``hold`` is set (at most `HOLD_LIMIT` seconds), so a test can see
    the first pieces arrive while the answer is still coming.
    """

    status: int = 200
    body: object = None
    headers: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    delay: float = 0.0
    hold: threading.Event | None = None


HOLD_LIMIT = 60.0
"""Seconds a held stream waits at most, so that a test that never lets go does not hang."""


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received. Header names are lower-cased; ``body`` is decoded JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def message_body(
    content: Sequence[Mapping[str, object]],
    *,
    stop_reason: str | None = "end_turn",
    model: str = "claude-test",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_creation_input_tokens: int | None = None,
    cache_read_input_tokens: int | None = None,
    message_id: str = "msg_test",
) -> dict[str, object]:
    """A Messages API success body (``"type": "message"``) with the given content blocks."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [dict(block) for block in content],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
        },
    }


def message_response(
    content: Sequence[Mapping[str, object]],
    *,
    headers: Mapping[str, str] | None = None,
    **fields: Any,
) -> ScriptedResponse:
    """A 200 answer carrying `message_body` (keyword ``fields`` are passed on to it)."""
    return ScriptedResponse(200, message_body(content, **fields), dict(headers or {}))


def error_body(error_type: str, message: str) -> dict[str, object]:
    """A Messages API error body, e.g. ``error_body("overloaded_error", "Overloaded")``."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def error_response(
    status: int,
    error_type: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> ScriptedResponse:
    """An error answer with status ``status`` and an `error_body`."""
    return ScriptedResponse(status, error_body(error_type, message), dict(headers or {}))


SSEEvent = tuple[str, object]
"""An event name and its data: JSON-encoded unless it is ``str`` (sent as is, e.g. broken JSON)."""


def message_events(body: Mapping[str, Any]) -> list[SSEEvent]:
    """The event stream the Messages API sends for ``body`` (a `message_body`).

    ``message_start`` (the message with no content and no stop reason), then for each block
    ``content_block_start``, its deltas (text and tool input each in two pieces, so that the
    client has to put them together) and ``content_block_stop``, then ``message_delta`` with the
    stop reason and usage, and ``message_stop``.
    """
    usage: dict[str, Any] = dict(body.get("usage") or {})
    start: dict[str, Any] = {**body, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 1}
    events: list[SSEEvent] = [("message_start", {"type": "message_start", "message": start})]
    events.append(("ping", {"type": "ping"}))
    for index, block in enumerate(body.get("content") or []):
        first, deltas = _block_events(block)
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, **first})
        )
        for delta in deltas:
            event = {"type": "content_block_delta", "index": index, "delta": delta}
            events.append(("content_block_delta", event))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": body.get("stop_reason"), "stop_sequence": body.get("stop_sequence")}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _block_events(block: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    match block.get("type"):
        case "text":
            text = str(block.get("text", ""))
            pieces = [text[: len(text) // 2], text[len(text) // 2 :]]
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
            return {"content_block": {**block, "text": ""}}, deltas
        case "tool_use":
            arguments = json.dumps(block.get("input", {}))
            pieces = [arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]]
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
            return {"content_block": {**block, "input": {}}}, deltas
        case "thinking":
            deltas = [
                {"type": "thinking_delta", "thinking": block.get("thinking", "")},
                {"type": "signature_delta", "signature": block.get("signature", "")},
            ]
            return {"content_block": {**block, "thinking": "", "signature": ""}}, deltas
        case _:
            return {"content_block": dict(block)}, []


def sse_body(events: Sequence[SSEEvent]) -> bytes:
    """``events`` encoded as a ``text/event-stream`` body."""
    chunks: list[str] = []
    for name, data in events:
        encoded = data if isinstance(data, str) else json.dumps(data)
        chunks.append(f"event: {name}\ndata: {encoded}\n\n")
    return "".join(chunks).encode()


def stream_response(
    events: Sequence[SSEEvent], *, headers: Mapping[str, str] | None = None
) -> ScriptedResponse:
    """A 200 event stream made of exactly ``events``, e.g. one that fails half-way.

    For instance ``stream_response([*message_events(body)[:3], ("error", overloaded)])``.
    """
    return ScriptedResponse(
        200, sse_body(events), {"content-type": "text/event-stream", **(headers or {})}
    )


_SCRIPT_EXHAUSTED = ScriptedResponse(
    500,
    error_body("api_error", "FakeAnthropicServer: no scripted response left for this request"),
    {"x-should-retry": "false"},
)


class FakeAnthropicServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) that serves scripted responses.

    Use it as a context manager, or call `start` and `close`. Responses may be given
    to the constructor or added later with `enqueue`; both are safe while it runs.

    Another API is served by a subclass that names its route and its bodies
    (`FakeOpenAIServer`).
    """

    route = "/v1/messages"
    """The one path answered from the script; any other is a 404."""
    exhausted: ScriptedResponse = _SCRIPT_EXHAUSTED

    def not_found(self, path: str) -> object:
        """The 404 body for a path that is not `route`."""
        return error_body("not_found_error", f"no route for POST {path}")

    def event_stream(self, body: object) -> bytes | None:
        """``body`` (a scripted 200) as a streaming request gets it; ``None`` sends it as is.

        Only a message body becomes an event stream.
        """
        if _field(body, "type") != "message":
            return None
        return sse_body(message_events(cast(Mapping[str, Any], body)))

    def answer(self, request: RecordedRequest, response: ScriptedResponse) -> ScriptedResponse:
        """``response`` as it is sent for ``request``: with the cache's usage when simulated."""
        cache = self.prompt_cache
        body = response.body
        if cache is None or response.status != 200 or _field(body, "type") != "message":
            return response
        try:
            usage = cache.usage(cast(Mapping[str, Any], request.body))
        except CacheRefusal as refusal:
            return ScriptedResponse(400, error_body("invalid_request_error", str(refusal)))
        message = dict(cast(Mapping[str, Any], body))
        message["usage"] = {**cast(Mapping[str, Any], message.get("usage") or {}), **usage}
        return ScriptedResponse(response.status, message, response.headers, response.delay)

    def __init__(
        self, *responses: ScriptedResponse, prompt_cache: PromptCacheSimulator | None = None
    ) -> None:
        self.prompt_cache = prompt_cache
        """Counts cached input tokens when set (see the module docstring)."""
        self._lock = threading.Lock()
        self._script: deque[ScriptedResponse] = deque(responses)
        self._requests: list[RecordedRequest] = []
        self._thread: threading.Thread | None = None
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: what to give the SDK as ``base_url``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        """How many scripted responses have not been served yet."""
        with self._lock:
            return len(self._script)

    def enqueue(self, *responses: ScriptedResponse) -> None:
        """Append responses to the script."""
        with self._lock:
            self._script.extend(responses)

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="FakeAnthropicServer",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            # shutdown() waits for serve_forever() to return, so only call it once it runs.
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_and_pop(self, request: RecordedRequest) -> ScriptedResponse:
        with self._lock:
            self._requests.append(request)
            return self._script.popleft() if self._script else self.exhausted

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {name.lower(): value for name, value in self.headers.items()}
                recorded = RecordedRequest("POST", self.path, headers, body)
                if self.path.split("?", 1)[0] != owner.route:
                    owner._record(recorded)
                    not_found = owner.not_found(self.path)
                    self._send(ScriptedResponse(404, not_found, {"x-should-retry": "false"}))
                    return
                streamed = _field(body, "stream") is True
                response = owner.answer(recorded, owner._record_and_pop(recorded))
                self._send(response, streamed=streamed)

            def _send(self, response: ScriptedResponse, *, streamed: bool = False) -> None:
                if response.delay > 0:
                    time.sleep(response.delay)
                stream = (
                    owner.event_stream(response.body)
                    if streamed and response.status == 200 and not isinstance(response.body, bytes)
                    else None
                )
                if isinstance(response.body, bytes):
                    payload = response.body
                    content_type = "application/octet-stream"
                elif stream is not None:
                    payload = stream
                    content_type = "text/event-stream"
                else:
                    payload = json.dumps(response.body).encode()
                    content_type = "application/json"
                headers = {name.lower(): value for name, value in response.headers.items()}
                content_type = headers.pop("content-type", content_type)
                # The client may have given up (e.g. timed out) before the answer comes.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(response.status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(payload)))
                    self.send_header("request-id", f"req_fake_{len(owner.requests)}")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if stream is not None and response.hold is not None:
                        events = payload.split(b"\n\n")
                        half = b"".join(e + b"\n\n" for e in events[: len(events) // 2])
                        self.wfile.write(half)
                        self.wfile.flush()
                        response.hold.wait(HOLD_LIMIT)
                        payload = payload[len(half) :]
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler


def _field(body: object, name: str) -> object:
    """``body[name]`` when ``body`` is a JSON object that has it, else ``None``."""
    return cast(Mapping[str, object], body).get(name) if isinstance(body, Mapping) else None
