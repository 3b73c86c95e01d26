"""Driving the chat over real HTTP, as its page does: open, send, poll the state."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

State = dict[str, Any]


@dataclass(frozen=True)
class ChatPage:
    """What the chat page's HTML tells its script: where to poll and post, and the form token."""

    conversation_id: str
    state_url: str
    send_url: str
    token: str
    html: str


def _attribute(page: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', page)
    assert match is not None, f"no {name} in the page"
    return html.unescape(match.group(1))


async def start_conversation(http: httpx.AsyncClient, employee: str) -> ChatPage:
    home = await http.get("/chat", params={"as": employee})
    assert home.status_code == 200
    token = _attribute(home.text, 'name="token" value')
    started = await http.post(f"/chat?as={employee}", data={"token": token})
    assert started.status_code == 303, started.text
    return await open_page(http, started.headers["location"])


async def open_page(http: httpx.AsyncClient, url: str) -> ChatPage:
    page = await http.get(url)
    assert page.status_code == 200, page.text
    return ChatPage(
        conversation_id=url.split("/chat/", 1)[1].split("?", 1)[0],
        state_url=_attribute(page.text, "data-state-url"),
        send_url=_attribute(page.text, "data-send-url"),
        token=_attribute(page.text, "data-token"),
        html=page.text,
    )


async def send(http: httpx.AsyncClient, page: ChatPage, text: str) -> httpx.Response:
    return await http.post(page.send_url, data={"text": text, "token": page.token})


async def state(http: httpx.AsyncClient, page: ChatPage) -> State:
    response = await http.get(page.state_url)
    assert response.status_code == 200, response.text
    return response.json()


async def until(
    http: httpx.AsyncClient, page: ChatPage, ready: Callable[[State], bool], timeout: float = 60
) -> State:
    """Polls like the page does until ``ready``; fails with the last state seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    current = await state(http, page)
    while not ready(current):
        assert asyncio.get_running_loop().time() < deadline, f"timed out; last state {current}"
        await asyncio.sleep(0.2)
        current = await state(http, page)
    return current


def settled(expected_user_messages: int) -> Callable[[State], bool]:
    """The agent has taken the Nth message and is no longer working on it."""

    def ready(current: State) -> bool:
        return current["user_messages"] >= expected_user_messages and not current["busy"]

    return ready


def items(current: State, kind: str) -> list[dict[str, Any]]:
    return [item for item in current["items"] if item["kind"] == kind]
