"""``POST /slack/interactions``: Slack's interactivity requests, verified before anything else.

Order matters. The raw body is read (with a size cap) and its signature checked with
slack-sdk's :class:`~slack_sdk.signature.SignatureVerifier` *before* it is parsed: a forged
request (wrong signature) or a stale or replayed one (timestamp more than five minutes away)
gets 401 and is never decoded, so nothing in it can reach the desk. A replay inside the five
minutes decides nothing twice: the workflow accepts one decision per approval.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from agentflow.approvals.slack.interactions import SlackInteractions

log = logging.getLogger("agentflow.web.slack")

MAX_BODY = 256 * 1024
"""Bytes; Slack's interaction payloads are a few kilobytes."""


class SlackEndpoint:
    """The ASGI endpoint for Slack's Interactivity Request URL."""

    def __init__(
        self, interactions: SlackInteractions, signing_secret: str, *, clock: Clock | None = None
    ) -> None:
        self.interactions = interactions
        self.verifier = SignatureVerifier(signing_secret, **({"clock": clock} if clock else {}))

    async def respond(self, request: Request) -> Response:
        """The request handler (a method: Starlette would take a callable object for ASGI)."""
        body = await _read(request)
        if body is None:
            return PlainTextResponse("request too large", status_code=413)
        if not self._verified(body, request):
            log.warning("rejected a Slack request with a bad or stale signature")
            return PlainTextResponse("invalid signature", status_code=401)
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
        except (KeyError, IndexError, UnicodeDecodeError, ValueError):
            return PlainTextResponse("expected a form field 'payload' with JSON", 400)
        if not isinstance(payload, dict):
            return PlainTextResponse("expected a JSON object", status_code=400)
        answer = await self.interactions.handle(cast(dict[str, Any], payload))
        return Response(status_code=200) if answer is None else JSONResponse(answer)

    def _verified(self, body: bytes, request: Request) -> bool:
        timestamp = request.headers.get("x-slack-request-timestamp")
        signature = request.headers.get("x-slack-signature")
        try:
            return self.verifier.is_valid(body, timestamp, signature)
        except ValueError:  # a timestamp that is not a number
            return False


async def _read(request: Request) -> bytes | None:
    """The body, or ``None`` past :data:`MAX_BODY` (checked while reading, not trusted)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
