"""A local stand-in for the Anthropic Messages API, for tests.

Tests point the real ``anthropic`` SDK at it (``base_url``), so they exercise the SDK's own request
encoding, retries and error handling instead of a mock of them. Responses are scripted and served
in order, one per request; every request that arrives is recorded with its decoded body and
headers::

    with FakeAnthropicServer(
        error_response(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "10"}),
        message_response([{"type": "text", "text": "hi"}]),
    ) as server:
        model = AnthropicModel(api_key="test", base_url=server.base_url)
        ...
    assert len(server.requests) == 2

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
from typing import Any

__all__ = [
    "FakeAnthropicServer",
    "RecordedRequest",
    "ScriptedResponse",
    "error_body",
    "error_response",
    "message_body",
    "message_response",
]


@dataclass(frozen=True)
class ScriptedResponse:
    """One answer the server gives, in order.

    ``body`` is sent as JSON unless it is ``bytes`` (sent as is). ``delay`` (seconds) is slept
    before answering, e.g. to provoke a client timeout.
    """

    status: int = 200
    body: object = None
    headers: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    delay: float = 0.0


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
    """A 200 answer carrying :func:`message_body` (keyword ``fields`` are passed on to it)."""
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
    """An error answer with status ``status`` and an :func:`error_body`."""
    return ScriptedResponse(status, error_body(error_type, message), dict(headers or {}))


_SCRIPT_EXHAUSTED = ScriptedResponse(
    500,
    error_body("api_error", "FakeAnthropicServer: no scripted response left for this request"),
    {"x-should-retry": "false"},
)


class FakeAnthropicServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) that serves scripted responses.

    Use it as a context manager, or call :meth:`start` and :meth:`close`. Responses may be given
    to the constructor or added later with :meth:`enqueue`; both are safe while it runs.
    """

    def __init__(self, *responses: ScriptedResponse) -> None:
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

    def start(self) -> FakeAnthropicServer:
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

    def __enter__(self) -> FakeAnthropicServer:
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
            return self._script.popleft() if self._script else _SCRIPT_EXHAUSTED

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
                if self.path.split("?", 1)[0] != "/v1/messages":
                    owner._record(recorded)
                    not_found = error_body("not_found_error", f"no route for POST {self.path}")
                    self._send(ScriptedResponse(404, not_found, {"x-should-retry": "false"}))
                    return
                self._send(owner._record_and_pop(recorded))

            def _send(self, response: ScriptedResponse) -> None:
                if response.delay > 0:
                    time.sleep(response.delay)
                if isinstance(response.body, bytes):
                    payload = response.body
                    content_type = "application/octet-stream"
                else:
                    payload = json.dumps(response.body).encode()
                    content_type = "application/json"
                # The client may have given up (e.g. timed out) before the answer comes.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(response.status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(payload)))
                    self.send_header("request-id", f"req_fake_{len(owner.requests)}")
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler
