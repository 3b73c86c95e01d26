"""``GET /conversations/{id}/timeline``: who may see a conversation's trail, and what it shows.

The trail is written to a real audit store (SQLite) as the exporter writes it; the page is
fetched through the Starlette app over httpx's ASGI transport.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.routing import Route

from agentflow import ApprovalRequest, call_digest
from agentflow.approvals import ApprovalDesk, LedgerChannel, OrgChart
from agentflow.approvals.settings import ApprovalSettings, approval_channel, build_web_app
from agentflow.approvals.slack import SlackChannel, SlackInteractions
from agentflow.approvals.slack.blocks import (
    APPROVE_ACTION,
    DENY_ACTION,
    VIEW_ACTION,
    request_blocks,
)
from agentflow.approvals.summary import default_summary
from agentflow.audit.store import TABLE, AuditStore, SpanRecord
from agentflow.temporal import AgentClient, DevServer
from agentflow.temporal.contracts import ApprovalNotice
from agentflow.web import create_app
from agentflow.web.timeline import ROUTE, Timeline, timeline_path, timeline_url
from tests.approvals.fake_slack import SIGNING_SECRET, FakeSlack, button, signed
from tests.approvals.org import seed

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONVERSATION = "conv-1"
TRACE = "a" * 32
HOSTILE = "<script>alert('x')</script>"
MS = 1_000_000


def make_span(
    span_id: str,
    parent: str | None,
    name: str,
    start_ms: int,
    end_ms: int,
    attributes: dict[str, Any],
    events: list[dict[str, Any]] | None = None,
    trace_id: str = TRACE,
) -> SpanRecord:
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id.ljust(16, "0"),
        parent_span_id=parent.ljust(16, "0") if parent else None,
        name=name,
        kind="INTERNAL",
        start_ns=start_ms * MS,
        end_ns=end_ms * MS,
        status="unset",
        attributes=attributes,
        events=events or [],
        links=[],
    )


def conversation(conversation_id: str = CONVERSATION, trace_id: str = TRACE) -> list[SpanRecord]:
    """alice asks; the model calls book_flight; it needs bob's approval; bob approves; booked."""
    ids = {"gen_ai.conversation.id": conversation_id}
    approval = f"{conversation_id}/approval/call-book"
    approval_attrs = {
        "agentflow.step": "approval",
        "agentflow.approval.id": approval,
        "agentflow.approval.digest": "d" * 64,
        "agentflow.approval.requester": "alice",
        "agentflow.approval.approvers": ["bob"],
        "agentflow.approval.reasons": ["fare 2400 is above the 1000 cap"],
        "agentflow.approval.arguments": '{"card_number": "[CARD ****1111]", "price": 2400.0}',
        **ids,
    }
    rule = [
        {
            "name": "agentflow.rule",
            "attributes": {
                "agentflow.rule.name": "within_fare_policy",
                "agentflow.rule.verdict": "needs_approval",
                "agentflow.rule.reasons": ["fare 2400 is above the 1000 cap"],
            },
        },
        {
            "name": "agentflow.rule",
            "attributes": {
                "agentflow.rule.name": "known_traveller",
                "agentflow.rule.verdict": "allow",
                "agentflow.rule.reasons": [],
            },
        },
    ]
    span = functools.partial(make_span, trace_id=trace_id)
    records = [
        span(
            "01",
            None,
            "invoke_agent travel",
            0,
            1,
            {"agentflow.step": "conversation", "gen_ai.agent.name": "travel", "enduser.id": "alice"}
            | ids,
        ),
        span(
            "02",
            "01",
            "user message",
            10,
            900,
            {"agentflow.step": "user_message", "agentflow.user_message": HOSTILE, **ids},
        ),
        span(
            "03",
            "02",
            "RunActivity:agentflow.model_call",
            20,
            40,
            {},
        ),
        span(
            "04",
            "03",
            "chat travel-planner",
            21,
            39,
            {
                "agentflow.step": "chat",
                "gen_ai.provider.name": "travel-planner",
                "gen_ai.request.model": "travel-planner",
                "gen_ai.usage.input_tokens": 220,
                "gen_ai.usage.output_tokens": 30,
                "gen_ai.usage.cache_read.input_tokens": 100,
                "gen_ai.response.finish_reasons": ["tool_use"],
                **ids,
            },
        ),
        span(
            "05",
            "02",
            "execute_tool book_flight",
            50,
            60,
            {
                "agentflow.step": "tool",
                "gen_ai.tool.name": "book_flight",
                "gen_ai.tool.call.id": "call-book",
                "gen_ai.tool.call.arguments": '{"card_number": "[CARD ****1111]"}',
                "agentflow.tool.outcome": "needs_approval",
                **ids,
            },
        ),
        span(
            "06",
            "05",
            "precondition book_flight",
            55,
            55,
            {"agentflow.step": "precondition", "agentflow.precondition.decision": "needs_approval"},
            rule,
        ),
        span("07", "02", "StartChildWorkflow:ApprovalWorkflow", 61, 61, {}),
        span(
            "08",
            "07",
            "approval requested",
            62,
            63,
            approval_attrs | {"agentflow.approval.event": "requested"},
        ),
        span(
            "09",
            "07",
            "approval escalated",
            70,
            71,
            approval_attrs
            | {"agentflow.approval.event": "escalated", "agentflow.approval.approvers": ["dana"]},
        ),
        span(
            "10",
            "07",
            "approval vote",
            80,
            81,
            {
                "agentflow.step": "vote",
                "agentflow.approval.approver": "bob",
                "agentflow.vote.approve": True,
                "agentflow.vote.result": "accepted",
            },
        ),
        span(
            "11",
            "07",
            "approval decided",
            82,
            83,
            approval_attrs
            | {
                "agentflow.approval.event": "decided",
                "agentflow.approval.outcome": "approved",
                "agentflow.approval.approver": "bob",
                "agentflow.approval.decided_by": "bob",
            },
        ),
    ]
    return records


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def temporal() -> AsyncIterator[DevServer]:
    async with DevServer() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.append(conversation())
    yield store
    store.dispose()


@pytest.fixture
def org(tmp_path: Path) -> OrgChart:
    return seed(OrgChart(create_engine(f"sqlite:///{tmp_path / 'org.db'}")))


@pytest_asyncio.fixture(loop_scope="session")
async def http(store: AuditStore, org: OrgChart) -> AsyncIterator[httpx.AsyncClient]:
    timeline = Timeline(store, org, auditors=["erin"])
    app = Starlette(routes=[Route(ROUTE, timeline.page)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as client:
        yield client


async def get(
    http: httpx.AsyncClient,
    viewer: str | None,
    *,
    fmt: str | None = None,
    conversation_id: str = CONVERSATION,
) -> httpx.Response:
    params = ({"as": viewer} if viewer else {}) | ({"format": fmt} if fmt else {})
    return await http.get(timeline_path(conversation_id), params=params)


async def test_the_user_sees_every_step_escaped(http: httpx.AsyncClient) -> None:
    response = await get(http, "alice")
    assert response.status_code == 200
    page = response.text
    # Hostile content is shown as text, never as markup.
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script" not in page and "http" not in page.split("</style>", 1)[1]
    assert 'id="chain">Chain verified: this conversation' in page
    assert "of the store's 11 records checked" in page
    assert "travel-planner (travel-planner) · 220 in (100 cached) / 30 out tokens" in page
    assert "<b>tool</b> book_flight <code>call-book</code> → needs_approval" in page
    assert "[CARD ****1111]" in page and "4111" not in page
    assert "? rule <b>within_fare_policy</b>: needs_approval — fare 2400 is above" in page
    assert "✓ rule <b>known_traveller</b>: allow" in page
    assert "<b>approval requested</b> for <b>alice</b> → bob" in page
    assert "<b>approval escalated</b> for <b>alice</b> → dana" in page
    assert "<b>vote</b> by <b>bob</b>: approve → accepted" in page
    assert "<b>approval decided</b> → approved by <b>bob</b>" in page
    assert "d" * 64 in page  # the digest the approval was bound to
    # Temporal's plumbing is hidden, its children lifted.
    assert "RunActivity" not in page
    steps = [s for s in page.split('data-step="')[1:]]
    assert [s.split('"', 1)[0] for s in steps] == [
        "conversation",
        "user_message",
        "chat",
        "tool",
        "precondition",
        "",
        "approval",
        "approval",
        "vote",
        "approval",
    ]


async def test_json_is_the_trace_tree_with_the_chain_status(http: httpx.AsyncClient) -> None:
    response = await get(http, "bob", fmt="json")
    assert response.status_code == 200
    body = response.json()
    assert body["conversation_id"] == CONVERSATION and body["viewer"] == "bob"
    assert body["chain"] == {
        "ok": True,
        "records": 11,
        "checkpoint": None,
        "checked": 11,
        "broken_at": None,
        "problems": [],
    }
    (trace,) = body["traces"]
    (root,) = trace["spans"]
    assert root["step"] == "conversation"
    (message,) = root["children"]
    assert [c["step"] or c["name"] for c in message["children"]] == [
        "chat",
        "tool",
        "StartChildWorkflow:ApprovalWorkflow",
    ]
    chat = message["children"][0]
    assert chat["attributes"]["gen_ai.usage.input_tokens"] == 220
    assert chat["duration_ms"] == 18.0


@pytest.mark.parametrize(
    ("viewer", "status"),
    [
        ("alice", 200),  # the conversation's user
        ("bob", 200),  # its approver
        ("dana", 200),  # escalated to
        ("erin", 200),  # an auditor
        ("carol", 403),  # in the org chart, not in this conversation
        ("mallory", 403),
        ("nobody", 403),  # not in the org chart
        (None, 401),  # not identified
    ],
)
async def test_only_the_user_the_approvers_and_auditors_see_it(
    http: httpx.AsyncClient, viewer: str | None, status: int
) -> None:
    for fmt in (None, "json"):
        response = await get(http, viewer, fmt=fmt)
        assert response.status_code == status
        if status != 200:
            assert "alice" not in response.text and "book_flight" not in response.text
            assert "travel" not in response.text


async def test_an_unknown_conversation_reveals_nothing_but_to_an_auditor(
    http: httpx.AsyncClient,
) -> None:
    assert (await get(http, "alice", conversation_id="conv-other")).status_code == 403
    assert (await get(http, "erin", conversation_id="conv-other")).status_code == 404
    hostile = await get(http, "erin", conversation_id=HOSTILE)
    assert hostile.status_code == 404 and "<script" not in hostile.text


async def test_a_tampered_store_shows_where_the_chain_breaks(
    http: httpx.AsyncClient, store: AuditStore, tmp_path: Path
) -> None:
    # Someone with database access lifts the trigger and rewrites bob's decision.
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute(f"DROP TRIGGER {TABLE}_no_update")
        row = db.execute(f"SELECT attributes FROM {TABLE} WHERE seq = 11").fetchone()
        forged = json.loads(row[0]) | {"agentflow.approval.approver": "alice"}
        db.execute(f"UPDATE {TABLE} SET attributes = ? WHERE seq = 11", (json.dumps(forged),))
    page = (await get(http, "alice")).text
    assert 'id="chain">Chain broken at record 11' in page
    assert "record 11 changed after it was written" in page
    decided = page.split("<b>approval decided</b>", 1)[1].split("</li>", 1)[0]
    assert "⚠ not vouched for by the chain" in decided
    assert page.count("⚠ not vouched for") == 1
    body = (await get(http, "alice", fmt="json")).json()
    assert (body["chain"]["ok"], body["chain"]["broken_at"]) == (False, 11)


async def test_links_are_quoted() -> None:
    assert timeline_path("conv 1/x?y") == "/conversations/conv%201/x%3Fy/timeline"
    assert timeline_url("https://agents.example.com/", "conv-1") == (
        "https://agents.example.com/conversations/conv-1/timeline"
    )


async def test_the_app_serves_timelines_only_with_a_store(
    temporal: DevServer, store: AuditStore, org: OrgChart
) -> None:
    desk = ApprovalDesk(AgentClient(await temporal.client()), org)
    without = create_app(desk)
    assert ROUTE not in [getattr(r, "path", "") for r in without.routes]
    app = create_app(desk, audit=store, auditors=["erin"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as client:
        assert (await get(client, "alice")).status_code == 200
        assert (await get(client, "erin")).status_code == 200
        assert (await get(client, "carol")).status_code == 403


# -- links from the approval message -------------------------------------------------------

REQUEST = ApprovalRequest(
    tool="book_flight",
    tool_call_id="call-book",
    arguments={"offer_id": "LX14"},
    digest=call_digest("book_flight", {"offer_id": "LX14"}),
    requester="alice",
    approvers=("bob",),
    reasons=("fare 2400 is above the 1000 cap",),
)
URL = "https://agents.example.com/conversations/conv-1/timeline"


def blocks_with(timeline: str | None) -> list[dict[str, Any]]:
    return request_blocks(
        approval_id="conv-1/approval/call-book",
        request=REQUEST,
        summary=default_summary(REQUEST),
        requester="alice",
        timeline_url=timeline,
    )


async def test_the_request_links_to_the_timeline_with_a_valid_url_button() -> None:
    actions = blocks_with(URL)[-1]
    parsed = Block.parse(actions)
    assert parsed is not None
    parsed.validate_json()  # slack-sdk's own Block Kit checks (lengths, required fields)
    approve, deny, view = actions["elements"]
    assert (approve["action_id"], deny["action_id"]) == (APPROVE_ACTION, DENY_ACTION)
    assert view == {
        "type": "button",
        "action_id": VIEW_ACTION,
        "text": {"type": "plain_text", "text": "View conversation"},
        "url": URL,
    }
    assert [e["action_id"] for e in blocks_with(None)[-1]["elements"]] == [
        APPROVE_ACTION,
        DENY_ACTION,
    ]


async def test_slack_channel_links_the_conversation_when_a_public_url_is_set(
    org: OrgChart,
) -> None:
    fake = await FakeSlack().start()
    try:
        client = AsyncWebClient(token=FakeSlack.TOKEN, base_url=fake.base_url)
        channel = SlackChannel(client, org, public_url="https://agents.example.com/")
        await channel.notify(
            ApprovalNotice(
                kind="requested",
                workflow_id="conv-1/approval/call-book",
                conversation_id="conv-1",
                request=REQUEST,
                approvers=("bob",),
            )
        )
        (posted,) = fake.of("chat.postMessage")
        assert button(posted.args["blocks"], VIEW_ACTION)["url"] == URL
    finally:
        await fake.stop()


async def test_a_click_on_the_link_button_is_acknowledged_and_decides_nothing(
    temporal: DevServer, org: OrgChart
) -> None:
    fake = await FakeSlack().start()
    try:
        client = AsyncWebClient(token=FakeSlack.TOKEN, base_url=fake.base_url)
        desk = ApprovalDesk(AgentClient(await temporal.client()), org)
        interactions = SlackInteractions(desk, client)
        app = create_app(desk, slack=interactions, signing_secret=SIGNING_SECRET)
        payload = {
            "type": "block_actions",
            "user": {"id": "U0BOB"},
            "trigger_id": "trigger-1",
            "channel": {"id": "D0BOB"},
            "actions": [{"type": "button", "action_id": VIEW_ACTION, "block_id": "x"}],
        }
        body, headers = signed(payload)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://app"
        ) as http:
            response = await http.post("/slack/interactions", content=body, headers=headers)
        assert (response.status_code, response.content) == (200, b"")
        assert not interactions._tasks  # pyright: ignore[reportPrivateUsage]  # nothing decided
        assert fake.calls == []  # nobody told, no modal opened
    finally:
        await fake.stop()


async def test_a_delegate_who_decided_may_look_and_is_named(
    store: AuditStore, org: OrgChart
) -> None:
    records = conversation("conv-2", trace_id="b" * 32)
    decided = records[-1]
    records[-1] = dataclasses.replace(
        decided, attributes=decided.attributes | {"agentflow.approval.decided_by": "carol"}
    )
    store.append(records)
    app = Starlette(routes=[Route(ROUTE, Timeline(store, org).page)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as http:
        page = await get(http, "carol", conversation_id="conv-2")
        assert page.status_code == 200
        assert "approved by <b>carol</b> (for <b>bob</b>, on leave)" in page.text
        assert (await get(http, "carol")).status_code == 403  # conv-1 is not hers


async def test_settings_wire_the_link_the_auditors_and_the_store(
    temporal: DevServer, store: AuditStore, org: OrgChart
) -> None:
    settings = ApprovalSettings.from_env(
        {
            "AGENTFLOW_PUBLIC_URL": "https://agents.example.com",
            "AGENTFLOW_AUDITORS": " erin , ,frank",
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
        }
    )
    assert (settings.public_url, settings.auditors) == (
        "https://agents.example.com",
        ("erin", "frank"),
    )
    assert settings.audit_database_url == "sqlite:///.agentflow/audit.db"
    shared = ApprovalSettings(database_url="postgresql://db/agentflow")
    assert shared.audit_database_url == "postgresql://db/agentflow"  # DATABASE_URL, as tracing
    channel = approval_channel(settings, org.engine)
    assert isinstance(channel, LedgerChannel) and isinstance(channel.then, SlackChannel)
    assert channel.then.public_url == "https://agents.example.com"

    desk = ApprovalDesk(AgentClient(await temporal.client()), org)
    app = build_web_app(settings, desk, audit=store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app"
    ) as client:
        assert (await get(client, "erin")).status_code == 200  # an auditor from the environment
        assert (await get(client, "carol")).status_code == 403
    assert ROUTE not in [getattr(r, "path", "") for r in build_web_app(settings, desk).routes]
