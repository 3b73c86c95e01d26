"""The Slack Web API methods agentflow uses, typed, over slack-sdk's ``AsyncWebClient``.

slack-sdk's own signatures are partly untyped (``dict`` without parameters); keeping every call
in this one module keeps the untyped surface, and its pyright ignores, in one place. The client
is the real one, so ``base_url`` points it at Slack or, in tests, at a local server that speaks
the Web API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

Block = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message landed: what ``chat.update`` and thread replies need."""

    channel: str
    ts: str


_USER_ID = re.compile(r"^[UW](?=[A-Z]*[0-9])[A-Z0-9]{3,}$")


def is_slack_user_id(text: str) -> bool:
    """Whether ``text`` has the form of a Slack user id, such as ``U0123ABCD``.

    ``U`` (``W`` on Enterprise Grid), then capitals and digits, at least one of them a digit.
    """
    return _USER_ID.match(text) is not None


def slack_error(exc: SlackApiError) -> str:
    """The ``error`` code of a failed call (``channel_not_found``, ``invalid_auth``…)."""
    response: Any = exc.response
    return str(response.get("error", ""))


def payload_field(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]…`` or ``None``: Slack's shapes vary, a missing key is no crash."""
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = cast(Mapping[str, Any], data).get(key)
    return data


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

    async def user_by_email(self, email: str) -> str | None:
        """``users.lookupByEmail``: the Slack user id of that address, ``None`` if none has it."""
        try:
            response = await self._read("users.lookupByEmail", {"email": email})
        except SlackApiError as exc:
            if slack_error(exc) == "users_not_found":
                return None
            raise
        user_id: Any = payload_field(response, "user", "id")
        return str(user_id) if user_id else None

    async def email_of(self, user: str) -> str | None:
        """``users.info``: the email address of a Slack user (needs ``users:read.email``)."""
        response = await self._read("users.info", {"user": user})
        email: Any = payload_field(response, "user", "profile", "email")
        return str(email) if email else None

    async def _read(self, method: str, params: dict[str, str]) -> object:
        # Read methods take form arguments, not a JSON body.
        response: AsyncSlackResponse = await self.client.api_call(  # pyright: ignore[reportUnknownMemberType]
            method, data=params
        )
        return cast(object, response.validate().data)  # pyright: ignore[reportUnknownMemberType]

    async def _call(self, method: str, arguments: dict[str, Any]) -> Any:
        response: AsyncSlackResponse = await self.client.api_call(  # pyright: ignore[reportUnknownMemberType]
            method, json=arguments
        )
        return response.validate()
