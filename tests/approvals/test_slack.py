"""Approvals in Slack against a real dev server and slack-sdk's real client (local Web API).

What Slack is sent (Block Kit), what a click does (signed, verified before it is parsed), and
that nothing changes for a forged, stale or unauthorised click.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from sqlalchemy import Engine

from agentflow.approvals.slack import APPROVE_ACTION, DENY_ACTION, DENY_CALLBACK, socket_listener
from agentflow.temporal import ApprovalTimers, DevServer
from tests.approvals.fake_slack import Call, button, click, submit_reason
from tests.approvals.slack_env import SlackEnv, slack_env

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, sqlite_engine: Engine) -> AsyncIterator[SlackEnv]:
    async with slack_env(await dev_server.client(), sqlite_engine) as env:
        yield env


async def request_to(env: SlackEnv, approval_id: str, user: str = "U0BOB") -> Call:
    """The request message (with buttons) posted to Slack user ``user`` for ``approval_id``."""
    (call,) = await env.slack.wait_for(
        "chat.postMessage",
        lambda c: "blocks" in c.args and c.mentions(approval_id),
        channel=user,
    )
    return call


def clicked(call: Call, action: str, user: str) -> dict[str, Any]:
    return click(call.args, action, user, channel=call.response["channel"], ts=call.response["ts"])


def kinds(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["type"] for b in blocks]


async def test_the_approver_gets_a_block_kit_request(env: SlackEnv) -> None:
    approval_id, request = await env.start_approval()
    call = await request_to(env, approval_id)

    blocks = call.args["blocks"]
    assert call.args["text"] == "Approval needed: book_flight"
    assert kinds(blocks) == ["header", "section", "section", "section", "context", "actions"]
    assert blocks[0]["text"]["text"] == "Approval needed: book_flight"
    assert blocks[1]["text"]["text"] == "<@U0ALICE> asks for approval."
    assert blocks[2]["fields"] == [{"type": "mrkdwn", "text": "*offer_id*\nLX318-2026-12-16-B"}]
    assert blocks[3]["text"]["text"] == (
        "*Why it needs approval*\n"
        "• business class needs a flight of 6 h or more (this one is 1.8 h)"
    )
    assert request.digest[:16] in blocks[4]["elements"][0]["text"]
    approve, deny = blocks[5]["elements"]
    assert (approve["action_id"], approve["style"]) == (APPROVE_ACTION, "primary")
    assert (deny["action_id"], deny["style"]) == (DENY_ACTION, "danger")
    value = f'{{"approval_id":"{approval_id}","digest":"{request.digest}"}}'
    assert approve["value"] == deny["value"] == value
    # Only the approver (bob) is asked: not the escalation target yet, never the requester.
    assert env.slack.of("chat.postMessage", channel="U0DANA") == []
    assert env.slack.of("chat.postMessage", channel="U0ALICE") == []


async def test_a_click_approves_updates_the_message_and_tells_the_requester(env: SlackEnv) -> None:
    approval_id, _ = await env.start_approval()
    call = await request_to(env, approval_id)

    started = time.monotonic()
    response = await env.send(clicked(call, APPROVE_ACTION, "U0BOB"))
    assert response.status_code == 200 and time.monotonic() - started < 3

    result = await env.result(approval_id)
    assert (result.decision.outcome, result.decision.approver) == ("approved", "bob")
    (update,) = await env.slack.wait_for("chat.update", channel="D0BOB", ts=call.response["ts"])
    assert "actions" not in kinds(update.args["blocks"])
    assert update.args["blocks"][-1]["text"]["text"] == ":white_check_mark: *Approved* by <@U0BOB>."
    (told,) = await env.slack.wait_for("chat.postMessage", channel="U0ALICE")
    assert (
        told.args["text"]
        == "Your request (book_flight): :white_check_mark: *Approved* by <@U0BOB>."
    )
    record = env.ledger.get(approval_id)
    assert record is not None and (record.state, record.decided_by) == ("approved", "bob")


async def test_deny_asks_for_a_reason_in_a_modal(env: SlackEnv) -> None:
    approval_id, _ = await env.start_approval()
    call = await request_to(env, approval_id)
    payload = clicked(call, DENY_ACTION, "U0BOB")

    assert (await env.send(payload)).status_code == 200
    (opened,) = env.slack.of("views.open", trigger_id=payload["trigger_id"])
    view = opened.args["view"]
    assert view["callback_id"] == DENY_CALLBACK
    assert approval_id in view["private_metadata"]
    assert await env.untouched(approval_id), "opening the modal decides nothing"

    empty = await env.send(submit_reason(view, "U0BOB", "   "))
    assert empty.json() == {
        "response_action": "errors",
        "errors": {"reason": "Say why you deny it."},
    }
    assert await env.untouched(approval_id)

    done = await env.send(submit_reason(view, "U0BOB", "Take the train <!channel>"))
    assert done.status_code == 200 and done.content == b""
    result = await env.result(approval_id)
    assert (result.decision.outcome, result.decision.reason) == (
        "denied",
        "Take the train <!channel>",
    )
    (update,) = await env.slack.wait_for("chat.update", ts=call.response["ts"])
    assert update.args["blocks"][-1]["text"]["text"] == (
        ":x: *Denied* by <@U0BOB>: Take the train &lt;!channel&gt;"
    )
    await env.slack.wait_for(
        "chat.postMessage", lambda c: "Denied" in c.args["text"], channel="U0ALICE"
    )


async def test_a_forged_request_is_rejected_before_parsing(env: SlackEnv) -> None:
    approval_id, _ = await env.start_approval()
    call = await request_to(env, approval_id)
    before = len(env.slack.calls)

    forged = await env.send(clicked(call, APPROVE_ACTION, "U0BOB"), secret="not-the-secret")
    garbage = await env.http.post(
        "/slack/interactions",
        content=b"payload=%7Bnot json",
        headers={"x-slack-request-timestamp": str(int(time.time())), "x-slack-signature": "v0=00"},
    )
    unsigned = await env.http.post("/slack/interactions", content=b"payload=%7B%7D")

    assert [r.status_code for r in (forged, garbage, unsigned)] == [401, 401, 401]
    await env.interactions.drain()
    assert await env.untouched(approval_id)
    assert len(env.slack.calls) == before


async def test_a_stale_or_replayed_request_is_rejected(env: SlackEnv) -> None:
    approval_id, _ = await env.start_approval()
    call = await request_to(env, approval_id)
    before = len(env.slack.calls)
    payload = clicked(call, APPROVE_ACTION, "U0BOB")

    stale = await env.send(payload, timestamp=int(time.time()) - 301)
    future = await env.send(payload, timestamp=int(time.time()) + 301)
    not_a_time = await env.http.post(
        "/slack/interactions",
        content=b"payload=%7B%7D",
        headers={"x-slack-request-timestamp": "yesterday", "x-slack-signature": "v0=00"},
    )

    assert [r.status_code for r in (stale, future, not_a_time)] == [401, 401, 401]
    await env.interactions.drain()
    assert await env.untouched(approval_id)
    assert len(env.slack.calls) == before

    # A replay inside the five minutes decides nothing twice.
    assert (await env.send(payload)).status_code == 200
    await env.result(approval_id)
    assert (await env.send(payload)).status_code == 200
    await env.interactions.drain()
    history = await env.client.get_workflow_handle(approval_id).fetch_history()
    completed = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_completed_event_attributes")
    ]
    assert len(completed) == 1
    (refusal,) = env.slack.of("chat.postEphemeral", user="U0BOB")
    assert "already approved" in refusal.args["text"]


@pytest.mark.parametrize(
    ("user", "refusal"),
    [
        ("U0MALLORY", "mallory is not an authorised approver"),
        ("U0ALICE", "requester cannot approve"),
        ("U0DANA", "dana is not an authorised approver"),
        ("U0STRANGER", "not an approver of this request"),
    ],
)
async def test_a_click_by_anyone_but_the_approver_changes_nothing(
    env: SlackEnv, user: str, refusal: str
) -> None:
    approval_id, _ = await env.start_approval()
    call = await request_to(env, approval_id)

    for action in (APPROVE_ACTION, DENY_ACTION):
        assert (await env.send(clicked(call, action, user))).status_code == 200
    await env.interactions.drain()
    if user != "U0STRANGER":
        (view,) = env.slack.of("views.open")[-1:]
        await env.send(submit_reason(view.args["view"], user, "no"))
        await env.interactions.drain()

    assert await env.untouched(approval_id)
    assert env.slack.of("chat.update") == [] or all(
        u.args["ts"] != call.response["ts"] for u in env.slack.of("chat.update")
    )
    refusals = env.slack.of("chat.postEphemeral", user=user)
    assert refusals and all(refusal in r.args["text"] for r in refusals)
    assert env.ledger.get(approval_id) is not None  # the request is recorded...
    record = env.ledger.get(approval_id)
    assert record is not None and record.state == "pending"  # ...and nothing else


async def test_a_stale_button_for_other_arguments_changes_nothing(env: SlackEnv) -> None:
    approval_id, _ = await env.start_approval()
    call = await request_to(env, approval_id)
    payload = clicked(call, APPROVE_ACTION, "U0BOB")
    other = json.dumps({"approval_id": approval_id, "digest": "f" * 64})
    payload["actions"][0]["value"] = other

    assert (await env.send(payload)).status_code == 200
    await env.interactions.drain()
    assert await env.untouched(approval_id)
    (refusal,) = env.slack.of("chat.postEphemeral", user="U0BOB")
    assert "different call" in refusal.args["text"]


async def test_reminders_and_escalation_go_to_the_thread(env: SlackEnv) -> None:
    timers = ApprovalTimers(
        remind_after=timedelta(seconds=1),
        escalate_after=timedelta(seconds=1),
        expire_after=timedelta(minutes=5),
    )
    approval_id, _ = await env.start_approval(timers)
    call = await request_to(env, approval_id)
    ts = call.response["ts"]

    (reminder,) = await env.slack.wait_for("chat.postMessage", thread_ts=ts, channel="D0BOB")
    assert reminder.args["text"].startswith("Reminder")
    await env.slack.wait_for("chat.postMessage", thread_ts=ts, channel="D0BOB", count=2)
    escalation = env.slack.of("chat.postMessage", thread_ts=ts)[1]
    assert escalation.args["text"] == "No decision yet: escalated to <@U0DANA>."
    to_dana = await request_to(env, approval_id, "U0DANA")
    assert "Escalated to you: <@U0BOB> has not decided in time." in str(to_dana.args["blocks"])

    assert (await env.send(clicked(to_dana, APPROVE_ACTION, "U0DANA"))).status_code == 200
    result = await env.result(approval_id)
    assert (result.decision.approver, result.escalation_level) == ("dana", 1)
    updates = await env.slack.wait_for("chat.update", count=2)
    assert {u.args["ts"] for u in updates} == {ts, to_dana.response["ts"]}


async def test_the_delegate_of_an_approver_on_leave_is_asked_and_may_decide(env: SlackEnv) -> None:
    now = datetime.now(UTC)
    env.org.add_leave("bob", "carol", now - timedelta(hours=1), now + timedelta(days=2))
    approval_id, _ = await env.start_approval()
    await request_to(env, approval_id, "U0BOB")
    to_carol = await request_to(env, approval_id, "U0CAROL")

    assert (await env.send(clicked(to_carol, APPROVE_ACTION, "U0CAROL"))).status_code == 200
    result = await env.result(approval_id)
    assert (result.decision.approver, result.decided_by) == ("bob", "carol")
    (update,) = await env.slack.wait_for("chat.update", ts=to_carol.response["ts"])
    assert update.args["blocks"][-1]["text"]["text"] == (
        ":white_check_mark: *Approved* by <@U0CAROL> (for <@U0BOB>, on leave)."
    )


async def test_slack_failing_for_good_does_not_hold_up_the_decision(env: SlackEnv) -> None:
    env.slack.failures["chat.postMessage"] = "channel_not_found"
    approval_id, request = await env.start_approval()
    await env.slack.wait_for("chat.postMessage", channel="U0BOB")

    await env.desk.decide(approval_id, "bob", approve=True, digest=request.digest)
    assert (await env.result(approval_id)).decision.outcome == "approved"


async def test_socket_mode_acknowledges_with_the_handlers_answer(env: SlackEnv) -> None:
    approval_id, _ = await env.start_approval()
    call = await request_to(env, approval_id)
    view = {
        "callback_id": DENY_CALLBACK,
        "private_metadata": button(call.args["blocks"], DENY_ACTION)["value"],
    }
    sent: list[SocketModeResponse] = []

    class Connection:
        async def send_socket_mode_response(self, response: SocketModeResponse) -> None:
            sent.append(response)

    listen = socket_listener(env.interactions)
    empty = SocketModeRequest("interactive", "env-1", submit_reason(view, "U0BOB", ""))
    await listen(Connection(), empty)  # type: ignore[arg-type]
    reason = SocketModeRequest("interactive", "env-2", submit_reason(view, "U0BOB", "too dear"))
    await listen(Connection(), reason)  # type: ignore[arg-type]

    assert [s.envelope_id for s in sent] == ["env-1", "env-2"]
    assert sent[0].payload == {
        "response_action": "errors",
        "errors": {"reason": "Say why you deny it."},
    }
    assert sent[1].payload is None
    result = await env.result(approval_id)
    assert (result.decision.outcome, result.decision.reason) == ("denied", "too dear")


async def test_a_click_after_expiry_changes_nothing(env: SlackEnv) -> None:
    quick = timedelta(milliseconds=300)
    timers = ApprovalTimers(remind_after=quick, escalate_after=quick, expire_after=quick)
    approval_id, _ = await env.start_approval(timers)
    call = await request_to(env, approval_id)
    expired = await env.result(approval_id)
    assert expired.decision.outcome == "expired"

    # bob's button is still in an old copy of the message: the click decides nothing.
    assert (await env.send(clicked(call, APPROVE_ACTION, "U0BOB"))).status_code == 200
    await env.interactions.drain()
    assert await env.result(approval_id) == expired
    (refusal,) = env.slack.of("chat.postEphemeral", user="U0BOB")
    assert "expired" in refusal.args["text"]
    record = env.ledger.get(approval_id)
    assert record is not None and record.state == "expired"
