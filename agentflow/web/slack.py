"""``POST /slack/interactions`` and ``POST /slack/events``: Slack's requests, verified first.

The first takes interactivity (Approve, Deny, the reason's modal); the second the Events API
(employees' direct messages to the app, its Home tab being opened; see
`agentflow.web.slack_chat`).

Order matters. The raw body is read (with a size cap) and its signature checked with
slack-sdk's `SignatureVerifier` *before* it is parsed: a forged
request (wrong signature) or a stale or replayed one (timestamp more than five minutes away)
gets 401 and is never decoded, so nothing in it can reach the desk. A replay inside the five
minutes decides nothing twice: the workflow accepts one decision per approval (and the desk
records the refused second decision).

With a tracer provider, each rejected request leaves a ``slack request rejected`` span in a
trace of its own: why, the timestamp header, the peer's address — and nothing of the body,
which is unverified and may be large.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from agentflow.approvals.slack.interactions import SlackInteractions
from agentflow.audit.recorder import SpanRecorder, recorder_for
from agentflow.web.slack_chat import SlackChat

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = logging.getLogger("agentflow.web.slack")

MAX_BODY = 256 * 1024
"""Bytes; Slack's interaction payloads are a few kilobytes."""


MAX_SKEW = 5 * 60
"""Seconds a request's timestamp may be from now (slack-sdk's verifier checks the same)."""


class _SignedEndpoint:
    """What every Slack endpoint does first: read a capped body and verify its signature."""

    def __init__(
        self,
        signing_secret: str,
        *,
        clock: Clock | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self.verifier = SignatureVerifier(signing_secret, clock=self.clock)
        self.recorder: SpanRecorder | None = (
            None if tracer_provider is None else recorder_for(tracer_provider)
        )

    async def _verified(self, request: Request) -> bytes | Response:
        """The body of a request Slack signed now, or the response refusing it unread."""
        body = await _read(request)
        if body is None:
            self._rejected(request, f"body larger than {MAX_BODY} bytes")
            return PlainTextResponse("request too large", status_code=413)
        rejection = self._rejection(body, request)
        if rejection is not None:
            log.warning("rejected a Slack request: %s", rejection)
            self._rejected(request, rejection)
            return PlainTextResponse("invalid signature", status_code=401)
        return body

    def _rejection(self, body: bytes, request: Request) -> str | None:
        """Why the request is not Slack's, now; ``None`` when it is."""
        timestamp = request.headers.get("x-slack-request-timestamp")
        signature = request.headers.get("x-slack-signature")
        if not timestamp or not signature:
            return "missing signature or timestamp"
        try:
            sent = int(timestamp)
        except ValueError:
            return "malformed timestamp"
        if abs(self.clock.now() - sent) > MAX_SKEW:
            return "timestamp more than five minutes from now (stale or replayed)"
        if not self.verifier.is_valid(body, timestamp, signature):
            return "bad signature"
        return None

    def _rejected(self, request: Request, reason: str) -> None:
        if self.recorder is not None:
            self.recorder.slack_request_rejected(
                reason=reason,
                timestamp=request.headers.get("x-slack-request-timestamp"),
                client_address=request.client.host if request.client is not None else None,
            )


class SlackEndpoint(_SignedEndpoint):
    """The ASGI endpoint for Slack's Interactivity Request URL."""

    def __init__(
        self,
        interactions: SlackInteractions,
        signing_secret: str,
        *,
        clock: Clock | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """``tracer_provider`` records each rejected request in the audit trail."""
        super().__init__(signing_secret, clock=clock, tracer_provider=tracer_provider)
        self.interactions = interactions

    async def respond(self, request: Request) -> Response:
        """The request handler (a method: Starlette would take a callable object for ASGI)."""
        body = await self._verified(request)
        if isinstance(body, Response):
            return body
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
        except (KeyError, IndexError, UnicodeDecodeError, ValueError):
            return PlainTextResponse("expected a form field 'payload' with JSON", 400)
        if not isinstance(payload, dict):
            return PlainTextResponse("expected a JSON object", status_code=400)
        answer = await self.interactions.handle(cast(dict[str, Any], payload))
        return Response(status_code=200) if answer is None else JSONResponse(answer)


class SlackEventsEndpoint(_SignedEndpoint):
    """The ASGI endpoint for the Events API's Request URL (direct messages, the Home tab)."""

    def __init__(
        self,
        chat: SlackChat,
        signing_secret: str,
        *,
        clock: Clock | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        super().__init__(signing_secret, clock=clock, tracer_provider=tracer_provider)
        self.chat = chat

    async def respond(self, request: Request) -> Response:
        body = await self._verified(request)
        if isinstance(body, Response):
            return body
        try:
            payload = json.loads(body)
        except ValueError:
            return PlainTextResponse("expected a JSON body", status_code=400)
        if not isinstance(payload, dict):
            return PlainTextResponse("expected a JSON object", status_code=400)
        answer = await self.chat.handle(cast(dict[str, Any], payload))
        return Response(status_code=200) if answer is None else JSONResponse(answer)


async def _read(request: Request) -> bytes | None:
    """The body, or ``None`` past `MAX_BODY` (checked while reading, not trusted)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
