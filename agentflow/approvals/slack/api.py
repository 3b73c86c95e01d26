"""The Slack Web API methods agentflow uses, typed, over slack-sdk's ``AsyncWebClient``.

slack-sdk's own signatures are partly untyped (``dict`` without parameters); keeping every call
in this one module keeps the untyped surface, and its pyright ignores, in one place. The client
is the real one, so ``base_url`` points it at Slack or, in tests, at a local server that speaks
the Web API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

Block = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message landed: what ``chat.update`` and thread replies need."""

    channel: str
    ts: str


def slack_error(exc: SlackApiError) -> str:
    """The ``error`` code of a failed call (``channel_not_found``, ``invalid_auth``…)."""
    response: Any = exc.response
    return str(response.get("error", ""))


class SlackApi:
    """What the approval channel and the interactivity handler send to Slack."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post_message(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[Block] | None = None,
        thread_ts: str | None = None,
    ) -> Posted:
        """``chat.postMessage``; ``channel`` may be a user id (the app's DM with them)."""
        arguments: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            arguments["blocks"] = blocks
        if thread_ts is not None:
            arguments["thread_ts"] = thread_ts
        response = await self._call("chat.postMessage", arguments)
        return Posted(channel=str(response.get("channel", channel)), ts=str(response.get("ts", "")))

    async def update_message(
        self, channel: str, ts: str, text: str, *, blocks: list[Block] | None = None
    ) -> None:
        """``chat.update``: rewrite a message in place (the buttons go away with its blocks)."""
        arguments: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            arguments["blocks"] = blocks
        await self._call("chat.update", arguments)

    async def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        """``chat.postEphemeral``: a note only ``user`` sees (a refused click, say)."""
        await self._call("chat.postEphemeral", {"channel": channel, "user": user, "text": text})

    async def open_view(self, trigger_id: str, view: Block) -> None:
        """``views.open``: must happen within 3 seconds of the click that gave ``trigger_id``."""
        await self._call("views.open", {"trigger_id": trigger_id, "view": view})

    async def publish_home(self, user: str, blocks: list[Block]) -> None:
        """``views.publish``: the app's Home tab as ``user`` sees it."""
        view = {"type": "home", "blocks": blocks}
        await self._call("views.publish", {"user_id": user, "view": view})

    async def _call(self, method: str, arguments: dict[str, Any]) -> Any:
        response: AsyncSlackResponse = await self.client.api_call(  # pyright: ignore[reportUnknownMemberType]
            method, json=arguments
        )
        return response.validate()
