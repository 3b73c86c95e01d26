"""Socket Mode: the same interactions over Slack's WebSocket, for apps without a public URL.

A thin adapter: Slack delivers each interaction over a connection the app opened with its
app-level token (``xapp-…``), so there is no HTTP request to sign; the token authenticates the
connection instead. Each envelope is acknowledged, with whatever `SlackInteractions.handle`
returns for an ``interactive`` one (a modal's validation errors go back in the ack): Slack
re-sends an envelope that is not acknowledged, so even one whose payload makes no sense is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from agentflow.approvals.slack.api import slack_error
from agentflow.approvals.slack.interactions import SlackInteractions
from agentflow.exceptions import ConfigurationError

log = logging.getLogger("agentflow.approvals.slack")

Listener = Callable[[AsyncBaseSocketModeClient, SocketModeRequest], Awaitable[None]]

APP_TOKEN_PREFIX = "xapp-"


EventHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
"""Handles an Events API body (``event_callback``), e.g. ``SlackChat.handle``."""


def socket_listener(
    interactions: SlackInteractions, events: EventHandler | None = None
) -> Listener:
    """The request listener: acknowledge every envelope, handle the ones it knows.

    Interactive ones go to ``interactions``; with ``events``, Events API ones too (employees'
    direct messages, the Home tab).
    """

    async def listen(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        answer: dict[str, Any] | None = None
        payload = cast(dict[str, Any], getattr(request, "payload", {}))  # a bare dict in slack-sdk
        try:
            if request.type == "interactive":
                answer = await interactions.handle(payload)
            elif request.type == "events_api" and events is not None:
                await events(payload)  # an event's ack carries nothing
        except Exception:
            # The ack still goes out: unacknowledged, Slack would deliver it again and again.
            log.exception("a Socket Mode envelope failed (%s)", request.envelope_id)
        response = SocketModeResponse(envelope_id=request.envelope_id, payload=answer)
        await client.send_socket_mode_response(response)  # pyright: ignore[reportUnknownMemberType]

    return listen


async def acknowledge_unreadable(
    client: AsyncBaseSocketModeClient, message: dict[str, Any], raw: str | None
) -> None:
    """Acknowledge an envelope slack-sdk cannot turn into a request (no or an odd payload).

    slack-sdk hands only well-formed envelopes to `socket_listener`; without this, a
    malformed one would never be acknowledged and Slack would keep delivering it.
    """
    envelope_id = message.get("envelope_id")
    if not isinstance(envelope_id, str):
        return  # hello, disconnect: messages, not envelopes
    try:
        readable = SocketModeRequest.from_dict(message) is not None  # pyright: ignore[reportUnknownMemberType]
    except ValueError:
        readable = False
    if not readable:
        log.warning("unreadable Socket Mode envelope %s acknowledged and dropped", envelope_id)
        await client.send_socket_mode_response({"envelope_id": envelope_id})  # pyright: ignore[reportUnknownMemberType]


class ApprovalSocket(SocketModeClient):
    """slack-sdk's aiohttp ``SocketModeClient``, with a `close` that survives Ctrl-C."""

    async def close(self) -> None:
        try:
            await super().close()  # pyright: ignore[reportUnknownMemberType]
        finally:
            # uvicorn re-raises Ctrl-C once it has stopped, which cancels the task that is
            # closing this client halfway (while the WebSocket says goodbye); closing the
            # HTTP session anyway ends the connection and leaves no unclosed session behind.
            await self.aiohttp_client_session.close()


async def connect_socket_mode(
    interactions: SlackInteractions,
    app_token: str,
    web_client: AsyncWebClient,
    *,
    timeout: float = 30,
    events: EventHandler | None = None,
) -> ApprovalSocket:
    """Open the Socket Mode connection; ``await client.close()`` ends it.

    slack-sdk's ``connect()`` retries forever, which would hide a wrong token behind a silent
    hang; so the token's kind is checked first, the WebSocket URL is asked for here (a refusal
    is raised with Slack's error code) and the connection must be up within ``timeout``
    seconds. Once connected, slack-sdk reconnects by itself. ``events`` (e.g.
    ``SlackChat.handle``) takes the Events API envelopes: employees' DMs and the Home tab.

    Raises:
        ConfigurationError: ``app_token`` is not an app-level token, Slack refused it, or no
            connection could be opened in time.
    """
    if not app_token.startswith(APP_TOKEN_PREFIX):
        raise ConfigurationError(
            "SLACK_APP_TOKEN must be an app-level token (xapp-…, with connections:write); "
            "the one given is not (a bot token is xoxb-…), so Socket Mode cannot connect"
        )
    client = ApprovalSocket(app_token=app_token, web_client=web_client)
    client.message_listeners.append(acknowledge_unreadable)  # pyright: ignore[reportUnknownMemberType]
    client.socket_mode_request_listeners.append(socket_listener(interactions, events))
    try:
        client.wss_uri = await client.issue_new_wss_url()
    except SlackApiError as exc:
        await client.close()
        raise ConfigurationError(
            f"Slack refused SLACK_APP_TOKEN for Socket Mode (apps.connections.open: "
            f"{slack_error(exc)})"
        ) from None
    try:
        await asyncio.wait_for(client.connect(), timeout)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    except TimeoutError:
        await client.close()
        raise ConfigurationError(
            f"could not open Slack's Socket Mode WebSocket within {timeout:g} s"
        ) from None
    return client
