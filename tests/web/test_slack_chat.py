"""Employees chat with the travel agent in a Slack DM, over HTTP (Events API) and Socket Mode.

slack-sdk's real clients talk to the local Slack stand-in (tests/approvals/fake_slack.py); the
conversation is the same durable workflow as the web chat's, on the web tests' running stack.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session
from temporalio.client import WorkflowExecutionStatus

from agentflow.approvals.orgchart import OrgChart
from agentflow.approvals.settings import ApprovalSettings, build_web_app
from agentflow.approvals.slack import SlackInteractions, connect_socket_mode
from agentflow.approvals.tables import Employee
from agentflow.temporal import DurableOptions
from agentflow.web import create_app
from agentflow.web.slack_chat import SlackChat
from examples.travel.home import trips_section
from examples.travel.store import trips_of
from tests.approvals.fake_slack import SIGNING_SECRET, Call, FakeSlack
from tests.web.conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

SLACK_IDS = {"alice": "U0ALICE", "carol": "U0CAROL", "bob": "U0BOB"}


@dataclass
class SlackRig:
    stack: Stack
    slack: FakeSlack
    chat: SlackChat
    http: httpx.AsyncClient
    team: str

    async def say(self, user: str, text: str, **extra: Any) -> httpx.Response:
        return await self.send(self.message(user, text, **extra))

    def message(self, user: str, text: str, **extra: Any) -> dict[str, Any]:
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": "D" + user[1:],
            "user": user,
            "text": text,
            "ts": f"{time.time():.6f}",
        }
        return {
            "type": "event_callback",
            "team_id": self.team,
            "event_id": f"Ev{uuid.uuid4().hex[:10]}",
            "event": event | extra,
        }

    async def send(self, payload: dict[str, Any], **sign: Any) -> httpx.Response:
        body = json.dumps(payload).encode()
        stamp = str(sign.get("timestamp", int(time.time())))
        signature = SignatureVerifier(sign.get("secret", SIGNING_SECRET)).generate_signature(
            timestamp=stamp, body=body
        )
        headers = {
            "content-type": "application/json",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signature or "",
        }
        return await self.http.post("/slack/events", content=body, headers=headers)

    async def executions(self, conversation: str) -> int:
        query = f'WorkflowId = "{conversation}"'
        return len([e async for e in self.stack.agents.client.list_workflows(query)])

    async def replies(self, user: str, count: int, where: Any = None) -> list[Call]:
        return await self.slack.wait_for(
            "chat.postMessage", where, count=count, channel="D" + user[1:], timeout=30
        )


@pytest_asyncio.fixture(loop_scope="session")
async def rig(stack: Stack) -> AsyncIterator[SlackRig]:
    org = OrgChart(stack.engine)  # the desk takes any directory; the Slack chat, the org chart
    with Session(stack.engine) as session:
        for employee, slack_id in SLACK_IDS.items():
            row = session.get(Employee, employee)
            assert row is not None
            row.slack_user_id = slack_id
            session.add(row)
        session.commit()
    fake = await FakeSlack().start()
    client = AsyncWebClient(token=FakeSlack.TOKEN, base_url=fake.base_url)
    chat = SlackChat(
        stack.agents,
        stack.agent,
        org,
        client,
        desk=stack.desk,
        home=trips_section(stack.engine),
    )
    app = create_app(
        stack.desk,
        slack=SlackInteractions(stack.desk, client),
        slack_chat=chat,
        signing_secret=SIGNING_SECRET,
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            # A workspace of its own per test: each test's conversations start afresh.
            yield SlackRig(stack, fake, chat, http, team=f"T{uuid.uuid4().hex[:8]}")
            await chat.close()  # a turn still waiting for bob is not followed any further
    finally:
        await fake.stop()


async def test_an_employee_books_in_a_direct_message(rig: SlackRig) -> None:
    assert (await rig.say("U0ALICE", "flight from ZRH to LHR on 2026-12-21")).status_code == 200
    (options,) = await rig.replies("U0ALICE", 1)
    assert "ZRH → LHR, 2026-12-21:" in options.args["text"]
    await rig.say("U0ALICE", "book option 1")
    booked = (await rig.replies("U0ALICE", 2))[-1]
    assert "Booked LX880 on 2026-12-21T06:40" in booked.args["text"]
    conversation = rig.chat.conversation_id(rig.team, "U0ALICE")
    assert await rig.stack.agents.conversation_owner(conversation) == "alice"
    assert [t.flight for t in trips_of(rig.stack.engine, "alice") if "12-21" in t.departure] == [
        "LX880"
    ]


async def test_a_denial_is_followed_by_alternatives_in_the_dm(rig: SlackRig) -> None:
    await rig.say("U0ALICE", "business flight from ZRH to LHR on 2026-12-22")
    await rig.replies("U0ALICE", 1)
    await rig.say("U0ALICE", "book option 1")
    waiting = (await rig.replies("U0ALICE", 2))[-1]
    assert waiting.args["text"].endswith("I'll let you know when bob decides.")
    conversation = rig.chat.conversation_id(rig.team, "U0ALICE")
    (pending,) = [
        p for p in await rig.stack.desk.pending("bob") if p.approval_id.startswith(conversation)
    ]
    await rig.stack.desk.decide(
        pending.approval_id,
        "bob",
        approve=False,
        digest=pending.status.request.digest,
        reason="economy is fine for London",
    )
    after = (await rig.replies("U0ALICE", 3))[-1]
    assert "bob declined (economy is fine for London)." in after.args["text"]
    assert "In-policy alternatives for the same trip:" in after.args["text"]


async def test_someone_not_in_the_directory_is_refused_and_nothing_starts(rig: SlackRig) -> None:
    await rig.say("U0STRANGER", "flight from ZRH to LHR on 2026-12-21")
    (refused,) = await rig.replies("U0STRANGER", 1)
    assert refused.args["text"] == "You are not in the company directory: I cannot help you."
    conversation = rig.chat.conversation_id(rig.team, "U0STRANGER")
    assert await rig.stack.agents.conversation_owner(conversation) is None


async def test_a_slack_account_cannot_write_in_another_employees_conversation(
    rig: SlackRig, caplog: pytest.LogCaptureFixture
) -> None:
    # carol's Slack account was alice's before the directory changed: the conversation stays
    # alice's, and carol writing there is refused, not added to it.
    conversation = rig.chat.conversation_id(rig.team, "U0CAROL")
    await rig.stack.agents.start_conversation(
        rig.stack.agent, user="alice", conversation_id=conversation
    )
    with caplog.at_level(logging.WARNING, logger="agentflow.web.slack_chat"):
        await rig.say("U0CAROL", "book option 1")
        (refused,) = await rig.replies("U0CAROL", 1)
        await rig.chat.drain()
    assert refused.args["text"] == "This conversation belongs to someone else."
    assert not (await rig.stack.agents.transcript(conversation)).messages
    assert await rig.stack.agents.conversation_owner(conversation) == "alice"
    assert await rig.executions(conversation) == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"Slack user U0CAROL (carol) wrote to alice's conversation {conversation}: refused"
    ]


async def test_two_first_messages_at_once_are_both_answered_in_one_conversation(
    rig: SlackRig,
) -> None:
    # Slack delivers events concurrently, and people send twice: both messages find no
    # conversation yet, and both must land in the one that starts.
    first, second = (
        rig.message("U0ALICE", f"flight from ZRH to LHR on 2026-12-{day}") for day in (26, 27)
    )
    await asyncio.gather(rig.chat.handle(first), rig.chat.handle(second))
    replies = await rig.replies("U0ALICE", 2)
    await rig.chat.drain()
    texts = sorted(r.args["text"] for r in replies)
    assert "ZRH → LHR, 2026-12-26:" in texts[0] and "ZRH → LHR, 2026-12-27:" in texts[1]
    conversation = rig.chat.conversation_id(rig.team, "U0ALICE")
    said = [
        m.text
        for m in (await rig.stack.agents.transcript(conversation)).messages
        if m.role == "user" and m.text
    ]
    assert sorted(said) == [f"flight from ZRH to LHR on 2026-12-{day}" for day in (26, 27)]
    assert await rig.stack.agents.conversation_owner(conversation) == "alice"
    assert await rig.executions(conversation) == 1


async def test_a_message_to_a_conversation_that_ended_idle_reopens_it(rig: SlackRig) -> None:
    conversation = rig.chat.conversation_id(rig.team, "U0ALICE")
    agents = rig.stack.agents
    await agents.start_conversation(
        rig.stack.agent,
        user="alice",
        conversation_id=conversation,
        options=DurableOptions(idle_timeout=timedelta(seconds=1)),
    )
    await agents.send(conversation, "flight from ZRH to LHR on 2026-12-28", sender="alice")
    handle = agents.client.get_workflow_handle(conversation)
    async with asyncio.timeout(20):
        while (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
            await asyncio.sleep(0.1)

    await rig.say("U0ALICE", "book option 1")
    (booked,) = await rig.replies("U0ALICE", 1)
    assert "Booked LX880 on 2026-12-28T06:40" in booked.args["text"]
    said = [
        m.text
        for m in (await agents.transcript(conversation)).messages
        if m.role == "user" and m.text
    ]
    assert said == ["flight from ZRH to LHR on 2026-12-28", "book option 1"]
    assert await rig.executions(conversation) == 2


async def test_forged_stale_and_repeated_events_change_nothing(rig: SlackRig) -> None:
    payload = rig.message("U0ALICE", "flight from ZRH to LHR on 2026-12-23")
    forged = await rig.send(payload, secret="not-the-secret")
    stale = await rig.send(payload, timestamp=int(time.time()) - 3600)
    assert (forged.status_code, stale.status_code) == (401, 401)
    assert (await rig.send(payload)).status_code == 200
    assert (await rig.send(payload)).status_code == 200  # Slack's re-delivery: dropped
    await rig.replies("U0ALICE", 1)
    await rig.chat.drain()
    assert len(rig.slack.of("chat.postMessage", channel="D0ALICE")) == 1
    challenge = await rig.send({"type": "url_verification", "challenge": "c-123"})
    assert challenge.json() == {"challenge": "c-123"}
    # The app's own messages and edits are not the employee speaking.
    await rig.send(rig.message("U0ALICE", "echo", bot_id="B1"))
    await rig.send(rig.message("U0ALICE", "edited", subtype="message_changed"))
    await rig.chat.drain()
    assert len(rig.slack.of("chat.postMessage", channel="D0ALICE")) == 1


async def test_an_oversize_message_is_refused_with_the_reason(rig: SlackRig) -> None:
    await rig.say("U0ALICE", "a" * 40_000)
    (refused,) = await rig.replies("U0ALICE", 1)
    assert refused.args["text"].startswith("Not sent: the message has 40000 characters")


async def test_the_home_tab_lists_trips_and_pending_approvals(rig: SlackRig) -> None:
    await rig.say("U0CAROL", "business flight from ZRH to LHR on 2026-12-24")
    await rig.replies("U0CAROL", 1)
    await rig.say("U0CAROL", "book option 2")
    await rig.replies("U0CAROL", 2)
    opened = {"type": "app_home_opened", "user": "U0CAROL", "tab": "home"}
    await rig.send(
        {"type": "event_callback", "team_id": rig.team, "event_id": "Ev1", "event": opened}
    )
    (home,) = await rig.slack.wait_for("views.publish", user_id="U0CAROL", timeout=30)
    texts = [json.dumps(b) for b in home.args["view"]["blocks"]]
    assert home.args["view"]["type"] == "home"
    assert any("Your trips" in t for t in texts)
    assert any("book_flight: waiting for bob" in t for t in texts)
    bobs = {"type": "app_home_opened", "user": "U0BOB", "tab": "home"}
    await rig.send(
        {"type": "event_callback", "team_id": rig.team, "event_id": "Ev2", "event": bobs}
    )
    (home,) = await rig.slack.wait_for("views.publish", user_id="U0BOB", timeout=30)
    assert any("carol: book_flight" in json.dumps(b) for b in home.args["view"]["blocks"])


async def test_socket_mode_carries_the_same_chat(rig: SlackRig) -> None:
    client = AsyncWebClient(token=FakeSlack.TOKEN, base_url=rig.slack.base_url)
    socket = await connect_socket_mode(
        SlackInteractions(rig.stack.desk, client),
        FakeSlack.APP_TOKEN,
        client,
        events=rig.chat.handle,
    )
    try:
        payload = rig.message("U0ALICE", "flight from ZRH to LHR on 2026-12-25")
        envelope = await rig.slack.push(payload, kind="events_api")
        assert await rig.slack.ack_of(envelope) == {"envelope_id": envelope}
        (options,) = await rig.replies("U0ALICE", 1)
        assert "ZRH → LHR, 2026-12-25:" in options.args["text"]
    finally:
        await socket.close()


async def test_approvals_serve_takes_the_chat_from_its_settings(rig: SlackRig) -> None:
    slack = {
        "slack_bot_token": FakeSlack.TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": rig.slack.base_url,
    }
    for agent, expected in ((rig.stack.agent, 200), (None, 404)):
        settings = ApprovalSettings(**slack, slack_chat_agent=agent)  # type: ignore[arg-type]
        app = build_web_app(settings, rig.stack.desk, allowed_hosts=["app"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            rig.http = http
            answer = await rig.send({"type": "url_verification", "challenge": "c-1"})
        assert answer.status_code == expected
