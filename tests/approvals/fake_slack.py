"""A local server that speaks the Slack Web API, for slack-sdk's real ``AsyncWebClient``.

Point the client at it with ``AsyncWebClient(token=FakeSlack.TOKEN, base_url=fake.base_url)``.
It answers the methods approvals use the way Slack does (a DM posted to a user id lands in a
``D…`` channel; every message gets a fresh ``ts``), checks the bearer token, and records each
call with its decoded arguments so tests can assert the exact Block Kit that was sent. It also
signs interaction payloads the way Slack does, for requests to the app's own endpoint.

Socket Mode too: ``apps.connections.open`` (app-level ``xapp-`` token only) hands out a
``ws://`` URL; the WebSocket behind it greets the client with Slack's ``hello``,
:meth:`FakeSlack.push` sends it envelopes, and every acknowledgement the client sends back is
recorded in :attr:`FakeSlack.acks`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret"


@dataclass(frozen=True)
class Call:
    """One Web API call: its decoded arguments and what the fake answered."""

    method: str
    args: dict[str, Any]
    response: dict[str, Any]

    def mentions(self, text: str) -> bool:
        return text in json.dumps(self.args)


class FakeSlack:
    TOKEN = "xoxb-test-token"
    APP_TOKEN = "xapp-1-A0TEST-1-test-app-token"
    APP_ID = "A0TEST"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, str] = {}
        """method -> Slack error code to answer with (e.g. ``channel_not_found``)."""
        self._ts = 1_760_000_000
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.acks: list[dict[str, Any]] = []
        """Every message a Socket Mode client sent back, decoded (``{"envelope_id": …}``…)."""
        self.emails: dict[str, str] = {}
        """Slack user id -> the email address of the account (users.info, users.lookupByEmail)."""
        self.connections = 0
        """How many Socket Mode WebSockets were accepted (a reconnect counts again)."""
        self.refuse_sockets = False
        """Answer every WebSocket upgrade with 503, as an unreachable socket host would."""
        self._port = 0
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{self._port}/api/"
        return self

    async def stop(self) -> None:
        for socket in self._sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- Socket Mode ---------------------------------------------------------------------------

    async def push(
        self,
        payload: Any,
        *,
        kind: str = "interactive",
        accepts_response_payload: bool | None = None,
        envelope_id: str | None = None,
    ) -> str:
        """Send an envelope to the connected client, as Slack does; returns its ``envelope_id``.

        ``accepts_response_payload`` defaults to Slack's: true for a ``view_submission`` (the
        ack may carry ``response_action``), false otherwise.
        """
        envelope_id = envelope_id or str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = _get_type(payload) == "view_submission"
        await self.push_raw(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "payload": payload,
                    "accepts_response_payload": accepts_response_payload,
                }
            )
        )
        return envelope_id

    async def push_raw(self, text: str) -> None:
        """Send any text frame to the connected client (malformed envelopes, say)."""
        await (await self.socket()).send_str(text)

    async def socket(self, timeout: float = 20) -> web.WebSocketResponse:
        """The most recent open Socket Mode connection (waits for one)."""
        deadline = time.monotonic() + timeout
        while not (open_ := [s for s in self._sockets if not s.closed]):
            if time.monotonic() > deadline:
                raise AssertionError("no Socket Mode client connected")
            await asyncio.sleep(0.05)
        return open_[-1]

    async def ack_of(self, envelope_id: str, timeout: float = 20) -> dict[str, Any]:
        """The client's acknowledgement of ``envelope_id`` (waits for it)."""
        deadline = time.monotonic() + timeout
        while not (found := [a for a in self.acks if a.get("envelope_id") == envelope_id]):
            if time.monotonic() > deadline:
                raise AssertionError(f"envelope {envelope_id} not acknowledged; acks: {self.acks}")
            await asyncio.sleep(0.05)
        return found[0]

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_sockets:
            return web.Response(status=503, text="unavailable")
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)  # a URL is good for one connection, as Slack's are
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        self.connections += 1
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len([s for s in self._sockets if not s.closed]),
                "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.APP_ID},
            }
        )
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                try:
                    self.acks.append(json.loads(message.data))
                except ValueError:
                    self.acks.append({"unparsable": message.data})
        return socket

    def _connections_open(self, request: web.Request) -> dict[str, Any]:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.APP_TOKEN:
            return {"ok": False, "error": "invalid_auth"}
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self._port}/link/?ticket={ticket}"}

    def of(
        self, method: str, where: Callable[[Call], bool] | None = None, **match: Any
    ) -> list[Call]:
        """Every ``method`` call whose arguments include ``match`` (and satisfy ``where``)."""
        return [
            c
            for c in self.calls
            if c.method == method
            and all(c.args.get(k) == v for k, v in match.items())
            and (where is None or where(c))
        ]

    async def wait_for(
        self,
        method: str,
        where: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 20,
        **match: Any,
    ) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(found := self.of(method, where, **match)) < count:
            if time.monotonic() > deadline:
                seen = [(c.method, c.args.get("channel"), c.args.get("text")) for c in self.calls]
                raise AssertionError(f"{count} {method} {match} not seen; calls: {seen}")
            await asyncio.sleep(0.05)
        return found

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "apps.connections.open":
            answer = self._connections_open(request)
            self.calls.append(Call(method, {}, answer))
            return web.json_response(answer)
        if request.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if request.content_type == "application/json":
            args: dict[str, Any] = await request.json()
        else:
            args = dict(await request.post())  # type: ignore[arg-type]
            for key in ("blocks", "view"):
                if isinstance(args.get(key), str):
                    args[key] = json.loads(args[key])
        if method in self.failures:
            answer: dict[str, Any] = {"ok": False, "error": self.failures[method]}
        else:
            answer = self._answer(method, args)
        self.calls.append(Call(method, args, answer))
        return web.json_response(answer)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel.startswith("U"):
            channel = "D" + channel[1:]  # the app's DM with that user
        self._ts += 1
        ts = f"{self._ts}.000100"
        if method == "chat.postMessage":
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text")}}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": args.get("ts"), "text": args.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "users.info":
            user = str(args.get("user", ""))
            if user not in self.emails:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": user, "profile": {"email": self.emails[user]}}}
        if method == "users.lookupByEmail":
            found = [u for u, e in self.emails.items() if e == args.get("email")]
            if not found:
                return {"ok": False, "error": "users_not_found"}
            return {"ok": True, "user": {"id": found[0]}}
        if method == "views.open":
            return {"ok": True, "view": {"id": f"V{self._ts}", **args.get("view", {})}}
        return {"ok": True}


def _get_type(payload: Any) -> Any:
    return cast(dict[str, Any], payload).get("type") if isinstance(payload, dict) else None


def signed(
    payload: dict[str, Any],
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an interaction request as Slack sends it (form-encoded)."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": signature,
    }


def button(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any]:
    """The button ``action_id`` in a posted message's blocks."""
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return element
    raise AssertionError(f"no {action_id} button in {blocks}")


def click(
    message: dict[str, Any], action_id: str, user: str, *, channel: str, ts: str
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when ``user`` clicks a button of ``message``."""
    element = button(message["blocks"], action_id)
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "trigger_id": f"trigger-{user}-{time.time_ns()}",
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "message_ts": ts},
        "message": {"ts": ts, "blocks": message["blocks"]},
        "actions": [
            {"type": "button", "action_id": action_id, "value": element["value"], "block_id": "x"}
        ],
    }


def submit_reason(view: dict[str, Any], user: str, reason: str) -> dict[str, Any]:
    """The ``view_submission`` payload of the deny modal ``view`` with ``reason`` typed in."""
    return {
        "type": "view_submission",
        "user": {"id": user},
        "view": {
            "id": view.get("id", "V1"),
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {
                "values": {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}
            },
        },
    }
