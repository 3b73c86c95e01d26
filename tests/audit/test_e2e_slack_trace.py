"""The travel agent's audit trail end to end, with the manager's click coming from Slack.

alice books an out-of-policy trip through a durable conversation (Temporal dev server, the
travel agent on its offline planner). The approval request is posted by slack-sdk's real client
to a local Slack Web API, with a "View conversation" link; bob's Approve click is a signed
``block_actions`` payload POSTed over HTTP to the web app's ``/slack/interactions``; the trip is
booked. The trail must then be one trace, in the shape an auditor expects, the same whether read
from the exporter or the audit store, and the web timeline must say bob decided.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, create_engine

from agentflow.agent import Agent
from agentflow.approvals import ApprovalDesk, LedgerChannel, OrgChart
from agentflow.approvals.links import timeline_path
from agentflow.approvals.slack import APPROVE_ACTION, SlackChannel, SlackInteractions
from agentflow.approvals.slack.blocks import VIEW_ACTION
from agentflow.audit import AuditTracerProvider, span_record, span_trees
from agentflow.audit.store import AuditStore
from agentflow.audit.tree import SpanNode, steps_only
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel
from agentflow.web import create_app
from examples.travel.agent import SYSTEM
from examples.travel.inventory import EmbeddedInventory
from examples.travel.org import DEMO_ORG, open_ledger, trip_summary
from examples.travel.planner import plan
from examples.travel.store import open_store, trips_of
from examples.travel.tools import TOOLS, TravelDeps
from tests.approvals.fake_slack import SIGNING_SECRET, Call, FakeSlack, button, click, signed

pytestmark = pytest.mark.asyncio(loop_scope="session")

FLIGHTS = EmbeddedInventory(seed=7, today=date(2026, 11, 25))
SLACK_IDS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dana": "U0DANA"}
PUBLIC_URL = "https://agents.example.com"


@dataclass
class Stack:
    agents: AgentClient
    agent: str
    engine: Engine
    slack: FakeSlack
    http: httpx.AsyncClient
    store: AuditStore

    async def send(self, payload: dict[str, Any]) -> httpx.Response:
        body, headers = signed(payload)
        return await self.http.post("/slack/interactions", content=body, headers=headers)


@pytest_asyncio.fixture(loop_scope="session")
async def stack(
    dev_server: DevServer, tracing: AuditTracerProvider, tmp_path: Path
) -> AsyncIterator[Stack]:
    """The production wiring: worker, desk, Slack channel and web app, all on one trail."""
    engine = open_store(str(create_engine(f"sqlite:///{tmp_path / 'travel.db'}").url))
    org = OrgChart(engine)
    employees = tuple(
        e.model_copy(update={"slack_user_id": SLACK_IDS.get(e.id)}) for e in DEMO_ORG.employees
    )
    org.load(DEMO_ORG.model_copy(update={"employees": employees}))
    ledger = open_ledger(engine)
    deps = TravelDeps(engine=engine, flights=FLIGHTS, org=org, ledger=ledger)
    agent = Agent(
        FunctionModel(plan, name="offline-travel-planner"),
        tools=TOOLS,
        system=SYSTEM,
        name=f"travel-{uuid.uuid4().hex[:8]}",
    )
    client = await dev_server.client()
    queue = f"e2e-{uuid.uuid4().hex}"
    fake = await FakeSlack().start()
    slack_client = AsyncWebClient(token=FakeSlack.TOKEN, base_url=fake.base_url)
    summarise = trip_summary(FLIGHTS)
    channel = LedgerChannel(
        ledger, SlackChannel(slack_client, org, summarise=summarise, public_url=PUBLIC_URL)
    )
    agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
    desk = ApprovalDesk(agents, org)
    interactions = SlackInteractions(desk, slack_client)
    assert tracing.store is not None
    app = create_app(
        desk,
        slack=interactions,
        signing_secret=SIGNING_SECRET,
        summarise=summarise,
        audit=tracing.store,
    )
    worker = create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: deps},
        channel=channel,
        tracer_provider=tracing,
        max_cached_workflows=0,  # every task replays: a span recorded twice would show
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with worker, httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            yield Stack(agents, agent.name, engine, fake, http, tracing.store)
            await interactions.drain()
    finally:
        await fake.stop()


def at(call: Call) -> dict[str, Any]:
    return {"channel": call.response["channel"], "ts": call.response["ts"]}


def describe(node: SpanNode) -> str:
    a = node.attributes
    match node.step:
        case "chat":
            return f"chat {a['gen_ai.response.finish_reasons'][0]}"
        case "tool":
            return f"tool {a['gen_ai.tool.name']} {a['agentflow.tool.outcome']}"
        case "precondition":
            return f"precondition {a['agentflow.precondition.decision']}"
        case "approval":
            return f"approval {a['agentflow.approval.event']}"
        case "vote":
            return f"vote {a['agentflow.approval.approver']} {a['agentflow.vote.result']}"
        case None:
            return node.name
        case step:
            return step


def outline(nodes: list[SpanNode], depth: int = 0) -> list[str]:
    return [
        line
        for node in nodes
        for line in ["  " * depth + describe(node), *outline(node.children, depth + 1)]
    ]


async def test_a_slack_approval_leaves_one_verifiable_trace(
    stack: Stack, exported: InMemorySpanExporter, tracing: AuditTracerProvider
) -> None:
    agents = stack.agents
    conversation = await agents.start_conversation(stack.agent, user="alice")
    searched = await agents.send(
        conversation, "business flight from ZRH to LHR on 2026-12-16", sender="alice"
    )
    assert searched.status == "completed"
    reply = await agents.send(conversation, "book option 1", sender="alice")
    assert reply.status == "awaiting_approval"
    (request,) = reply.approvals
    approval_id = f"{conversation}/approval/{request.tool_call_id}"

    # bob's Slack message links to the conversation's timeline.
    (message,) = await stack.slack.wait_for(
        "chat.postMessage", lambda c: "blocks" in c.args and c.mentions(approval_id)
    )
    assert message.args["channel"] == "U0BOB"
    link = button(message.args["blocks"], VIEW_ACTION)
    assert link["url"] == f"{PUBLIC_URL}/conversations/{conversation}/timeline"
    assert "value" not in link

    # Opening the link makes Slack send block_actions too: acknowledged, nothing decided.
    view = click(message.args, APPROVE_ACTION, "U0BOB", **at(message))
    view["actions"] = [{"type": "button", "action_id": VIEW_ACTION, "block_id": "x"}]
    assert (await stack.send(view)).status_code == 200
    assert (await agents.approval_status(approval_id)).state == "pending"

    # The web inbox links there too.
    inbox = await stack.http.get("/approvals", params={"as": "bob"})
    assert f'href="{timeline_path(conversation)}?as=bob">View conversation</a>' in inbox.text

    # bob clicks Approve in Slack.
    approve = await stack.send(click(message.args, APPROVE_ACTION, "U0BOB", **at(message)))
    assert approve.status_code == 200
    final = await agents.wait_for_turn(conversation, reply.turn)
    assert final.status == "completed" and "approved by bob. Booking #" in final.output
    (trip,) = trips_of(stack.engine, "alice")
    assert trip.approved_by == "bob"
    assert tracing.force_flush()

    # One trace for the whole conversation, in the exporter and in the store alike.
    spans = [span_record(s) for s in exported.get_finished_spans()]
    stored = [s.record for s in stack.store.conversation(conversation)]
    assert {r.trace_id for r in spans} == {r.trace_id for r in stored}
    assert len({r.trace_id for r in stored}) == 1
    assert sorted(r.span_id for r in stored) == sorted(r.span_id for r in spans)
    exported_tree = [n.to_dict() for n in span_trees(spans)]
    assert [n.to_dict() for n in span_trees(stored)] == exported_tree
    assert stack.store.verify().ok

    (root,) = steps_only(span_trees(stored))
    # Each turn is a span of its own, beside the message that started it, and its steps are
    # its children, in order.
    assert outline([root]) == [
        "conversation",
        "  user_message",
        "  run",
        "    chat tool_use",
        "    tool search_flights returned",
        "      precondition allow",
        "      intent",
        "    chat end_turn",
        "  user_message",
        "  run",
        "    chat tool_use",
        "    tool book_flight needs_approval",
        "      precondition needs_approval",
        "    StartChildWorkflow:ApprovalWorkflow",
        "      approval requested",
        "      vote bob accepted",
        "      approval decided",
        "    tool book_flight returned",
        "      precondition allow",
        "      intent",
        "    chat end_turn",
    ]

    a = root.attributes
    assert (a["gen_ai.conversation.id"], a["enduser.id"]) == (conversation, "alice")
    chats = [n.attributes for n in root.walk() if n.step == "chat"]
    assert {c["gen_ai.operation.name"] for c in chats} == {"chat"}
    assert {c["gen_ai.request.model"] for c in chats} == {"offline-travel-planner"}
    assert all(isinstance(c["gen_ai.usage.input_tokens"], int) for c in chats)
    assert all("gen_ai.usage.output_tokens" in c for c in chats)
    tools = [n.attributes for n in root.walk() if n.step == "tool"]
    assert [t["gen_ai.tool.name"] for t in tools] == [
        "search_flights",
        "book_flight",
        "book_flight",
    ]
    booked = tools[-1]
    assert json.loads(booked["gen_ai.tool.call.arguments"]) == request.arguments
    assert booked["agentflow.tool.call.digest"] == request.digest
    approvals = [n.attributes for n in root.walk() if n.step == "approval"]
    assert {x["agentflow.approval.digest"] for x in approvals} == {request.digest}
    assert {x["agentflow.approval.id"] for x in approvals} == {approval_id}
    decided = approvals[-1]
    assert (decided["agentflow.approval.outcome"], decided["agentflow.approval.approver"]) == (
        "approved",
        "bob",
    )
    assert decided["agentflow.approval.decided_by"] == "bob"  # the Slack user's employee
    (vote,) = [n.attributes for n in root.walk() if n.step == "vote"]
    assert (vote["agentflow.approval.approver"], vote["agentflow.approval.digest"]) == (
        "bob",
        request.digest,
    )
    approved = [n.attributes for n in root.walk() if n.step == "precondition"][-1]
    assert approved["agentflow.precondition.approved_by"] == "bob"

    # The web timeline shows it, to alice and to bob, and the chain vouches for it.
    for viewer in ("alice", "bob"):
        page = await stack.http.get(timeline_path(conversation), params={"as": viewer})
        assert page.status_code == 200
        assert "<b>approval decided</b> → approved by <b>bob</b>" in page.text
        assert "<b>vote</b> by <b>bob</b>: approve → accepted" in page.text
        assert 'id="chain">Chain verified' in page.text
    outsider = await stack.http.get(timeline_path(conversation), params={"as": "carol"})
    assert outsider.status_code == 403 and "bob" not in outsider.text
    document = (
        await stack.http.get(timeline_path(conversation), params={"as": "bob", "format": "json"})
    ).json()
    assert [n["step"] for n in document["traces"][0]["spans"]] == ["conversation"]
    assert document["chain"]["ok"] is True
