"""Every refused decision leaves an audit record, and changes nothing.

A durable conversation (Temporal dev server, the audit tests' travel agent) waits for bob's
approval. The desk records to an audit store and an in-memory exporter. Each refusal — a
non-approver, the requester, a stale digest, an unknown approval, a decision on an approval
already decided, a click in Slack by a non-approver or by a stranger — must leave exactly one
``approval vote refused`` span in the conversation's trace, saying who tried, through which
channel, with which digest, and why; the approval must be as it was. Requests the Slack endpoint
rejects unread (bad or missing signature, stale timestamp, an old request replayed) each leave a
``slack request rejected`` span in a trace of its own, with nothing from the body.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console
from slack_sdk.signature import Clock
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.routing import Route
from typer.testing import CliRunner, Result

from agentflow import ApprovalError, ApprovalRequest
from agentflow.approvals import ApprovalDesk, OrgChart
from agentflow.approvals.links import timeline_path
from agentflow.approvals.settings import ApprovalSettings, build_web_app
from agentflow.approvals.slack import APPROVE_ACTION, SlackChannel, SlackInteractions
from agentflow.audit import AuditTracerProvider, configure_tracing, span_record
from agentflow.audit.store import AuditStore, SpanRecord
from agentflow.audit.tree import by_trace, span_trees, steps_only
from agentflow.cli import app as cli_app
from agentflow.cli.trace import render
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.web import create_app
from agentflow.web.slack import SlackEndpoint
from tests.approvals.fake_slack import SIGNING_SECRET, Call, FakeSlack, click, signed
from tests.approvals.org import seed
from tests.audit.support import MESSAGE, Bookings, travel_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

REFUSED = "approval vote refused"
REJECTED = "slack request rejected"
TIMESTAMP = "agentflow.slack.request_timestamp"


@dataclass
class Stack:
    agents: AgentClient
    desk: ApprovalDesk
    agent: str
    slack: FakeSlack
    interactions: SlackInteractions
    http: httpx.AsyncClient
    tracing: AuditTracerProvider
    exported: InMemorySpanExporter
    store: AuditStore
    cli_environment: dict[str, str]

    async def pending(self) -> tuple[str, str, ApprovalRequest]:
        """A new conversation of alice's, waiting for bob: (conversation, approval, request)."""
        conversation = await self.agents.start_conversation(self.agent, user="alice")
        reply = await self.agents.send(conversation, MESSAGE, sender="alice")
        assert reply.status == "awaiting_approval"
        (request,) = reply.approvals
        assert (request.requester, request.approvers) == ("alice", ("bob", "dana"))
        return conversation, f"{conversation}/approval/{request.tool_call_id}", request

    async def untouched(self, approval_id: str) -> bool:
        """Still pending, and no vote was ever accepted into the workflow's history."""
        history = await self.agents.client.get_workflow_handle(approval_id).fetch_history()
        accepted = any(
            e.HasField("workflow_execution_update_accepted_event_attributes")
            for e in history.events
        )
        return (await self.agents.approval_status(approval_id)).state == "pending" and not accepted

    def records(self, conversation: str) -> list[SpanRecord]:
        assert self.tracing.force_flush()
        return [stored.record for stored in self.store.conversation(conversation)]

    def trace_of(self, conversation: str) -> str:
        """The trace the conversation's root span (``invoke_agent``) started."""
        records = self.records(conversation)
        (root,) = [r for r in records if r.attributes.get("agentflow.step") == "conversation"]
        return root.trace_id

    def refusals(self, conversation: str) -> list[SpanRecord]:
        """The refusal spans of ``conversation``, all in the conversation's own trace."""
        refused = [r for r in self.records(conversation) if r.name == REFUSED]
        assert {r.trace_id for r in refused} <= {self.trace_of(conversation)}
        return refused

    def rejections(self) -> list[SpanRecord]:
        assert self.tracing.force_flush()
        return [span_record(s) for s in self.exported.get_finished_spans() if s.name == REJECTED]

    async def post(self, payload: dict[str, Any], **sign: Any) -> httpx.Response:
        body, headers = signed(payload, **sign)
        return await self.http.post("/slack/interactions", content=body, headers=headers)

    async def message_for(self, approval_id: str) -> Call:
        (call,) = await self.slack.wait_for(
            "chat.postMessage", lambda c: "blocks" in c.args and c.mentions(approval_id)
        )
        return call


@pytest_asyncio.fixture(loop_scope="session")
async def stack(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[Stack]:
    engine = create_engine(f"sqlite:///{tmp_path / 'org.db'}", connect_args={"timeout": 30})
    org = seed(OrgChart(engine))
    exported = InMemorySpanExporter()
    tracing = configure_tracing(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}", exporters=[exported], otlp=False
    )
    assert tracing.store is not None
    client = await dev_server.client()
    queue = f"refusals-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    fake = await FakeSlack().start()
    web_client = AsyncWebClient(token=FakeSlack.TOKEN, base_url=fake.base_url)
    agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
    desk = ApprovalDesk(agents, org)
    interactions = SlackInteractions(desk, web_client)
    app = create_app(
        desk, slack=interactions, signing_secret=SIGNING_SECRET, tracer_provider=tracing
    )
    worker = create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: Bookings},
        channel=SlackChannel(web_client, org),
        tracer_provider=tracing,
        org=org,
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with worker, httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            yield Stack(
                agents,
                desk,
                agent.name,
                fake,
                interactions,
                http,
                tracing,
                exported,
                tracing.store,
                {
                    "TEMPORAL_ADDRESS": dev_server.address,
                    "DATABASE_URL": str(engine.url),
                    "AGENTFLOW_TASK_QUEUE": queue,
                },
            )
            await interactions.drain()
    finally:
        await fake.stop()
        tracing.shutdown()
        engine.dispose()


def expect_one(stack: Stack, conversation: str, approval_id: str) -> dict[str, Any]:
    (refusal,) = stack.refusals(conversation)
    assert refusal.status == "error"
    a = refusal.attributes
    assert a["agentflow.step"] == "vote"
    assert a["agentflow.vote.result"] == "refused"
    assert a["agentflow.approval.id"] == approval_id
    assert a["gen_ai.conversation.id"] == conversation
    return a


# -- refused by the desk ----------------------------------------------------------------------


async def test_a_non_approver_is_refused_and_recorded(stack: Stack) -> None:
    conversation, approval_id, request = await stack.pending()

    with pytest.raises(ApprovalError, match="mallory is not an authorised approver"):
        await stack.desk.decide(
            approval_id, "mallory", approve=True, digest=request.digest, channel="web"
        )

    assert await stack.untouched(approval_id)
    a = expect_one(stack, conversation, approval_id)
    assert a["agentflow.approval.approver"] == "mallory"
    assert a["agentflow.approval.digest"] == request.digest
    assert a["agentflow.vote.approve"] is True
    assert a["agentflow.vote.channel"] == "web"
    assert "agentflow.vote.channel_user" not in a
    assert a["agentflow.vote.rejection"] == (
        "mallory is not an authorised approver for this request"
    )

    # The terminal tree and the web timeline say so; mallory gains no right to read the trail.
    records = stack.records(conversation)
    console = Console(width=200, record=True, color_system=None)
    for trace_id, roots in by_trace(steps_only(span_trees(records))).items():
        console.print(render(trace_id, roots))
    assert (
        "vote by mallory: approve → refused: mallory is not an authorised approver"
        in console.export_text()
    )
    app = create_app(stack.desk, audit=stack.store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as h:
        page = await h.get(timeline_path(conversation), params={"as": "alice"})
        assert page.status_code == 200
        assert (
            "✗ <b>vote</b> by <b>mallory</b> refused — mallory is not an authorised approver "
            'for this request <span class="dur">(approve via web)</span>'
        ) in page.text
        outsider = await h.get(timeline_path(conversation), params={"as": "mallory"})
        assert outsider.status_code == 403


async def test_the_requester_is_refused_and_recorded(stack: Stack) -> None:
    conversation, approval_id, request = await stack.pending()

    with pytest.raises(ApprovalError, match="a requester cannot approve their own request"):
        await stack.desk.decide(
            approval_id, "alice", approve=True, digest=request.digest, channel="cli"
        )

    assert await stack.untouched(approval_id)
    a = expect_one(stack, conversation, approval_id)
    assert (a["agentflow.approval.approver"], a["agentflow.vote.channel"]) == ("alice", "cli")
    assert a["agentflow.vote.rejection"] == "a requester cannot approve their own request"


async def test_a_stale_digest_is_refused_and_recorded(stack: Stack) -> None:
    conversation, approval_id, request = await stack.pending()
    stale = "0" * 64

    with pytest.raises(ApprovalError, match="digest mismatch"):
        await stack.desk.decide(approval_id, "bob", approve=True, digest=stale, channel="web")

    assert await stack.untouched(approval_id)
    a = expect_one(stack, conversation, approval_id)
    assert a["agentflow.approval.approver"] == "bob"
    assert a["agentflow.approval.digest"] == stale != request.digest
    assert a["agentflow.vote.rejection"] == (
        "the decision is for a different call (digest mismatch)"
    )


async def test_an_unknown_approval_is_refused_and_recorded_in_its_conversation(
    stack: Stack,
) -> None:
    conversation, approval_id, request = await stack.pending()
    unknown = f"{conversation}/approval/call-that-never-was"

    with pytest.raises(ApprovalError, match="there is no approval"):
        await stack.desk.decide(unknown, "bob", approve=False, digest=request.digest, reason="no")

    assert await stack.untouched(approval_id)
    a = expect_one(stack, conversation, unknown)
    assert a["agentflow.approval.approver"] == "bob"
    assert a["agentflow.vote.approve"] is False
    assert "agentflow.vote.channel" not in a
    assert a["agentflow.vote.rejection"] == f"there is no approval {unknown!r}"


async def test_a_decision_on_a_decided_approval_is_refused_and_recorded(stack: Stack) -> None:
    conversation, approval_id, request = await stack.pending()
    approved = await stack.desk.decide(approval_id, "bob", approve=True, digest=request.digest)
    assert approved.complete and approved.decision.outcome == "approved"

    with pytest.raises(ApprovalError, match="this approval is already approved"):
        await stack.desk.decide(
            approval_id, "dana", approve=False, digest=request.digest, reason="too late"
        )

    status = await stack.agents.approval_status(approval_id)
    assert status.state == "approved"
    history = await stack.agents.client.get_workflow_handle(approval_id).fetch_history()
    updates = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_completed_event_attributes")
    ]
    assert len(updates) == 1  # bob's vote, and only it
    a = expect_one(stack, conversation, approval_id)
    assert (a["agentflow.approval.approver"], a["agentflow.vote.approve"]) == ("dana", False)
    assert a["agentflow.vote.rejection"] == "this approval is already approved"
    # bob's accepted vote is recorded as before, beside the refusal.
    records = stack.records(conversation)
    votes = [r.attributes for r in records if r.attributes.get("agentflow.step") == "vote"]
    assert sorted(v["agentflow.vote.result"] for v in votes) == ["accepted", "refused"]


async def test_refusals_in_the_terminal_are_recorded_by_the_cli(stack: Stack) -> None:
    conversation, approval_id, request = await stack.pending()

    def approve(*args: str) -> Result:
        command = ["approvals", "approve", approval_id, *args]
        return CliRunner().invoke(cli_app, command, env=stack.cli_environment)

    # The CLI runs its own event loop (asyncio.run): give it a thread of its own.
    mallory = await asyncio.to_thread(approve, "--as", "mallory", "--yes")
    forged = await asyncio.to_thread(approve, "--as", "bob", "--digest", "f" * 16)
    assert (mallory.exit_code, forged.exit_code) == (2, 2)
    assert "mallory is not an authorised approver" in mallory.stderr
    assert "not the call you were shown" in forged.stderr

    assert await stack.untouched(approval_id)
    # The CLI wrote to its own audit store (DATABASE_URL), in the conversation's trace.
    cli_store = AuditStore(stack.cli_environment["DATABASE_URL"])
    try:
        recorded = [s.record for s in cli_store.conversation(conversation)]
    finally:
        cli_store.dispose()
    assert {r.trace_id for r in recorded} == {stack.trace_of(conversation)}
    refused = [r.attributes for r in recorded if r.name == REFUSED]
    assert [(a["agentflow.approval.approver"], a["agentflow.vote.channel"]) for a in refused] == [
        ("mallory", "cli"),
        ("bob", "cli"),
    ]
    assert refused[0]["agentflow.approval.digest"] == request.digest
    assert refused[1]["agentflow.approval.digest"] == "f" * 16
    assert str(refused[1]["agentflow.vote.rejection"]).endswith(
        "it is not the call you were shown (give 12 or more characters)"
    )


# -- refused clicks in Slack ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "person", "reason", "told"),
    [
        (
            "U0MALLORY",
            "mallory",
            "mallory is not an authorised approver for this request",
            "Your decision was not recorded: mallory is not an authorised approver",
        ),
        (
            "U0STRANGER",
            None,
            "the Slack user is not an approver of this request",
            "You are not an approver of this request: nothing changed.",
        ),
    ],
)
async def test_a_refused_slack_click_is_recorded_with_the_slack_user(
    stack: Stack, user: str, person: str | None, reason: str, told: str
) -> None:
    conversation, approval_id, request = await stack.pending()
    message = await stack.message_for(approval_id)
    at = {"channel": message.response["channel"], "ts": message.response["ts"]}

    response = await stack.post(click(message.args, APPROVE_ACTION, user, **at))
    assert response.status_code == 200
    await stack.interactions.drain()

    (ephemeral,) = stack.slack.of("chat.postEphemeral", user=user)
    assert told in ephemeral.args["text"]
    assert await stack.untouched(approval_id)
    a = expect_one(stack, conversation, approval_id)
    assert a.get("agentflow.approval.approver") == person
    assert (a["agentflow.vote.channel"], a["agentflow.vote.channel_user"]) == ("slack", user)
    assert a["agentflow.approval.digest"] == request.digest
    assert a["agentflow.vote.rejection"] == reason
    # The terminal names whoever clicked: the employee, else the Slack user.
    console = Console(width=300, record=True, color_system=None)
    for trace_id, roots in by_trace(steps_only(span_trees(stack.records(conversation)))).items():
        console.print(render(trace_id, roots))
    who = person or f"{user} (not an approver of this request)"
    assert f"vote by {who}: approve → refused: {reason} (via slack)" in console.export_text()


# -- rejected by the Slack endpoint -----------------------------------------------------------


class Later(Clock):
    """slack-sdk's clock, ``seconds`` ahead: for a request replayed after its window."""

    def __init__(self, seconds: int) -> None:
        super().__init__()
        self.seconds = seconds

    def now(self) -> float:
        return time.time() + self.seconds


def payload_of(approval_id: str, digest: str) -> dict[str, Any]:
    value = f'{{"approval_id":"{approval_id}","digest":"{digest}"}}'
    return {
        "type": "block_actions",
        "user": {"id": "U0BOB"},
        "actions": [{"type": "button", "action_id": APPROVE_ACTION, "value": value}],
    }


def assert_nothing_of_the_body(record: SpanRecord, *secrets: str) -> None:
    a = record.attributes
    assert (
        {"agentflow.step", "agentflow.slack.rejection", "client.address"}
        <= set(a)
        <= {
            "agentflow.step",
            "agentflow.slack.rejection",
            "agentflow.slack.request_timestamp",
            "client.address",
        }
    )
    text = repr(record.body())
    for secret in secrets:
        assert secret not in text
    assert (record.status, a["agentflow.step"]) == ("error", "slack_request")
    assert record.parent_span_id is None  # a trace of its own


async def test_forged_stale_and_replayed_requests_are_recorded_without_their_body(
    stack: Stack,
) -> None:
    conversation, approval_id, request = await stack.pending()
    payload = payload_of(approval_id, request.digest)
    before = len(stack.rejections())
    now = int(time.time())

    forged = await stack.post(payload, secret="not-the-secret", timestamp=now)
    stale = await stack.post(payload, timestamp=now - 301)
    unsigned = await stack.http.post("/slack/interactions", content=b"payload=%7B%7D")
    not_a_time = await stack.http.post(
        "/slack/interactions",
        content=b"payload=%7B%7D",
        headers={"x-slack-request-timestamp": "yesterday", "x-slack-signature": "v0=00"},
    )
    huge = await stack.http.post("/slack/interactions", content=b"payload=" + b"A" * (300 * 1024))
    assert [r.status_code for r in (forged, stale, unsigned, not_a_time)] == [401] * 4
    assert huge.status_code == 413

    # A request Slack really signed, replayed to the endpoint six minutes later.
    body, headers = signed({"type": "block_actions", "actions": []})
    later = SlackEndpoint(
        stack.interactions, SIGNING_SECRET, clock=Later(360), tracer_provider=stack.tracing
    )
    replay_app = Starlette(routes=[Route("/slack/interactions", later.respond, methods=["POST"])])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=replay_app), base_url="http://app"
    ) as replayer:
        assert (
            await stack.http.post("/slack/interactions", content=body, headers=headers)
        ).status_code == 200
        replayed = await replayer.post("/slack/interactions", content=body, headers=headers)
    assert replayed.status_code == 401

    await stack.interactions.drain()
    assert await stack.untouched(approval_id)
    assert stack.refusals(conversation) == []  # nothing reached the desk
    rejections = stack.rejections()[before:]
    old = "timestamp more than five minutes from now (stale or replayed)"
    seen = [
        (r.attributes["agentflow.slack.rejection"], r.attributes.get(TIMESTAMP)) for r in rejections
    ]
    assert seen == [
        ("bad signature", str(now)),
        (old, str(now - 301)),
        ("missing signature or timestamp", None),
        ("malformed timestamp", "yesterday"),
        (f"body larger than {256 * 1024} bytes", None),
        (old, headers["x-slack-request-timestamp"]),
    ]
    for record in rejections:
        assert_nothing_of_the_body(record, approval_id, request.digest, "U0BOB", "AAAA")
        assert record.attributes["client.address"] == "127.0.0.1"


async def test_the_web_app_from_settings_records_rejections_with_the_desks_provider(
    stack: Stack,
) -> None:
    settings = ApprovalSettings(
        slack_bot_token=FakeSlack.TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=stack.slack.base_url,
    )
    app = build_web_app(settings, stack.desk, tracer_provider=stack.tracing)
    before = len(stack.rejections())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as h:
        body, headers = signed({"type": "block_actions"}, secret="forged")
        assert (
            await h.post("/slack/interactions", content=body, headers=headers)
        ).status_code == 401
    (rejected,) = stack.rejections()[before:]
    assert rejected.attributes["agentflow.slack.rejection"] == "bad signature"
