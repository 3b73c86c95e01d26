"""Socket Mode: the same interactions over Slack's WebSocket, for apps without a public URL.

A thin adapter: Slack delivers each interaction over a connection the app opened with its
app-level token (``xapp-…``), so there is no HTTP request to sign; the token authenticates the
connection instead. Each ``interactive`` envelope is acknowledged with whatever
:meth:`SlackInteractions.handle` returns (a modal's validation errors go back in the ack).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from agentflow.approvals.slack.interactions import SlackInteractions

Listener = Callable[[AsyncBaseSocketModeClient, SocketModeRequest], Awaitable[None]]


def socket_listener(interactions: SlackInteractions) -> Listener:
    """The request listener: acknowledge every envelope, handle the interactive ones."""

    async def listen(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        answer: dict[str, Any] | None = None
        if request.type == "interactive":
            payload = cast(
                dict[str, Any], getattr(request, "payload", {})
            )  # a bare dict in slack-sdk
            answer = await interactions.handle(payload)
        response = SocketModeResponse(envelope_id=request.envelope_id, payload=answer)
        await client.send_socket_mode_response(response)  # pyright: ignore[reportUnknownMemberType]

    return listen


async def connect_socket_mode(
    interactions: SlackInteractions, app_token: str, web_client: AsyncWebClient
) -> SocketModeClient:
    """Open the Socket Mode connection; ``await client.close()`` ends it."""
    client = SocketModeClient(app_token=app_token, web_client=web_client)
    client.socket_mode_request_listeners.append(socket_listener(interactions))
    await client.connect()  # pyright: ignore[reportUnknownMemberType]
    return client
