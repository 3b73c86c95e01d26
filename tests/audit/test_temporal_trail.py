"""A durable travel conversation, out of policy, approved by the manager: one trace, read back.

The worker keeps no workflow in its cache (``max_cached_workflows=0``), so every workflow task
replays the history from the start: a span emitted from workflow code on replay would show up
twice here.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext
from sqlalchemy import text
from typer.testing import CliRunner

from agentflow import ApprovalError, ApprovalRequest
from agentflow.audit import AuditInterceptor, AuditTracerProvider, span_record, span_trees
from agentflow.audit.attributes import input_tokens
from agentflow.audit.store import TABLE, AuditStore, SpanRecord
from agentflow.audit.tree import SpanNode, steps_only
from agentflow.cli.main import app
from agentflow.temporal import (
    AgentClient,
    ApprovalTimers,
    ApprovalVote,
    DevServer,
    DurableOptions,
    connect,
    create_worker,
)
from agentflow.testing.channels import RecordingChannel
from tests.audit.support import CARD, MESSAGE, Bookings, travel_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRETS = (CARD, CARD.replace(" ", ""), "alice@example.com")


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def book_with_approval(
    server: DevServer, tracing: AuditTracerProvider
) -> tuple[str, str, ApprovalRequest]:
    """alice asks for an out-of-policy trip; mallory tries to approve it, bob does."""
    client = await server.client()
    queue = f"audit-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    channel, bookings = RecordingChannel(), Bookings()
    worker = create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: bookings},
        channel=channel,
        tracer_provider=tracing,
        max_cached_workflows=0,
    )
    async with worker:
        agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, MESSAGE, sender="alice")
        assert reply.status == "awaiting_approval"
        # The reply says what the turn has used so far: two model calls, then the rest.
        assert (input_tokens(reply.usage), reply.usage.output_tokens) == (440, 60)
        # The turn's span is written when the turn ends; until then its steps wait under the
        # conversation, one tree still.
        assert tracing.force_flush() and tracing.store is not None
        stored = [s.record for s in tracing.store.conversation(conversation)]
        (waiting,) = steps_only(span_trees(stored))
        assert [describe(n) for n in waiting.children] == [
            "user_message",
            "chat tool_use",
            "tool search_flights returned",
            "chat tool_use",
            "tool book_flight needs_approval",
            "StartChildWorkflow:ApprovalWorkflow",
        ]
        (request,) = reply.approvals
        approval_id = f"{conversation}/approval/call-book"
        await eventually(lambda: "requested" in channel.kinds(approval_id))
        with pytest.raises(ApprovalError):
            await agents.decide(
                approval_id, ApprovalVote(digest=request.digest, approver="mallory", approve=True)
            )
        # Bob decides from another process (Slack): a client that never saw this conversation.
        slack = AgentClient(await server.client(), task_queue=queue, tracer_provider=tracing)
        vote = ApprovalVote(digest=request.digest, approver="bob", approve=True, reason="client")
        await slack.decide(approval_id, vote)
        final = await agents.wait_for_turn(conversation, 1)
        assert final.status == "completed" and final.output.startswith("Booked: ")
        assert (input_tokens(final.usage), final.usage.output_tokens) == (660, 90)
        assert final.usage.cache_read_input_tokens == 300
    assert tracing.force_flush()
    return conversation, approval_id, request


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


def by_step(root: SpanNode, step: str) -> list[dict[str, Any]]:
    return [n.attributes for n in root.walk() if n.step == step]


async def test_one_trace_per_conversation_with_every_step(
    dev_server: DevServer, tracing: AuditTracerProvider, exported: InMemorySpanExporter
) -> None:
    conversation, approval_id, request = await book_with_approval(dev_server, tracing)
    spans = exported.get_finished_spans()
    assert len({_context(s).trace_id for s in spans}) == 1

    records = [span_record(s) for s in spans]
    (root,) = steps_only(span_trees(records))
    # The turn is one span, the steps it caused its children (not siblings of the message).
    assert outline([root]) == [
        "conversation",
        "  user_message",
        "  run",
        "    chat tool_use",
        "    tool search_flights returned",
        "      precondition allow",
        "      intent",
        "    chat tool_use",
        "    tool book_flight needs_approval",
        "      precondition needs_approval",
        "    StartChildWorkflow:ApprovalWorkflow",
        "      approval requested",
        "      vote mallory rejected",
        "      vote bob accepted",
        "      approval decided",
        "    tool book_flight returned",
        "      precondition allow",
        "      intent",
        "    chat end_turn",
    ]

    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    # The provider of the agent's model, on every GenAI span of the conversation.
    genai = [n for n in root.walk() if "gen_ai.operation.name" in n.attributes]
    assert {n.step for n in genai} >= {"conversation", "run", "chat", "tool"}
    assert {n.attributes["gen_ai.provider.name"] for n in genai} == {"travel-planner"}
    # The turn's span lasts the turn (the approval included) and carries its usage and answer,
    # as the in-process run's root does.
    (turn,) = [n for n in root.children if n.step == "run"]
    t = turn.attributes
    assert turn.name == f"invoke_agent {t['gen_ai.agent.name']}"
    assert t["gen_ai.operation.name"] == "invoke_agent"
    assert (t["gen_ai.provider.name"], t["gen_ai.system"]) == ("travel-planner",) * 2
    assert (t["gen_ai.conversation.id"], t["session.id"]) == (conversation,) * 2
    assert (t["user.id"], t["agentflow.run.status"]) == ("alice", "completed")
    assert (t["gen_ai.usage.input_tokens"], t["gen_ai.usage.output_tokens"]) == (660, 90)
    assert t["gen_ai.usage.cache_read.input_tokens"] == 300
    (answer,) = json.loads(t["gen_ai.output.messages"])
    assert answer["parts"][0]["content"].startswith("Booked: ")
    assert (turn.record.start_ns, turn.record.end_ns) == turn.extent()
    assert turn.record.end_ns > max(n.record.end_ns for n in turn.walk() if n.step == "vote")
    assert root.attributes["gen_ai.conversation.id"] == conversation
    assert root.attributes["enduser.id"] == root.attributes["user.id"] == "alice"
    (message,) = by_step(root, "user_message")
    assert (message["session.id"], message["user.id"]) == (conversation, "alice")
    tools = by_step(root, "tool")
    assert {t["gen_ai.provider.name"] for t in tools} == {"travel-planner"}
    assert {t["session.id"] for t in tools} == {conversation}
    chats = by_step(root, "chat")
    assert {c["gen_ai.operation.name"] for c in chats} == {"chat"}
    assert {c["gen_ai.provider.name"] for c in chats} == {"travel-planner"}
    assert {c["gen_ai.request.model"] for c in chats} == {"travel-planner"}
    assert [(c["gen_ai.usage.input_tokens"], c["gen_ai.usage.output_tokens"]) for c in chats] == [
        (220, 30)
    ] * 3
    assert {c["gen_ai.usage.cache_read.input_tokens"] for c in chats} == {100}
    assert {c["gen_ai.usage.cache_creation.input_tokens"] for c in chats} == {0}

    search, asked, booked = by_step(root, "tool")
    assert search["gen_ai.operation.name"] == "execute_tool"
    assert (asked["gen_ai.tool.call.id"], booked["gen_ai.tool.call.id"]) == ("call-book",) * 2
    assert json.loads(booked["gen_ai.tool.call.arguments"]) == {
        "flight_id": "LX14",
        "price": 2400.0,
        "card_number": "[CARD ****1111]",
    }
    assert json.loads(booked["gen_ai.tool.call.result"]) == {"booking": "BK1", "card_last4": "1111"}
    assert asked["agentflow.tool.reasons"] == ["fare 2400 is above the 1000 cap"]

    preconditions = [n for n in root.walk() if n.step == "precondition"]
    rules = [
        [
            (e["attributes"]["agentflow.rule.name"], e["attributes"]["agentflow.rule.verdict"])
            for e in n.record.events
        ]
        for n in preconditions[1:]
    ]
    assert rules == [[("within_fare_policy", "needs_approval"), ("known_traveller", "allow")]] * 2
    assert preconditions[1].attributes["agentflow.precondition.reasons"] == [
        "fare 2400 is above the 1000 cap"
    ]
    assert preconditions[2].attributes["agentflow.precondition.approved_by"] == "bob"

    requested, decided = by_step(root, "approval")
    assert requested["agentflow.approval.id"] == decided["agentflow.approval.id"] == approval_id
    assert requested["agentflow.approval.approvers"] == ["bob"]
    assert requested["agentflow.approval.requester"] == "alice"
    assert (decided["agentflow.approval.outcome"], decided["agentflow.approval.approver"]) == (
        "approved",
        "bob",
    )
    assert decided["agentflow.approval.digest"] == request.digest
    assert decided["agentflow.approval.decision_reason"] == "client"
    mallory, _bob = by_step(root, "vote")
    assert "not an authorised approver" in mallory["agentflow.vote.rejection"]

    # Replayed workflow tasks emitted nothing twice.
    names = Counter(s.name for s in spans)
    assert names["RunWorkflow:AgentWorkflow"] == names["RunWorkflow:ApprovalWorkflow"] == 1
    assert names["StartChildWorkflow:ApprovalWorkflow"] == 1
    assert names["CompleteWorkflow:ApprovalWorkflow"] == 1
    assert names["StartActivity:agentflow.model_call"] == len(chats) == 3
    assert names["StartActivity:agentflow.tool_call"] == 3
    assert len({_context(s).span_id for s in spans}) == len(spans)

    # The audit store gives back the same records, hence the same tree, chained and intact.
    store = tracing.store
    assert store is not None
    stored = [s.record for s in store.conversation(conversation)]
    assert _by_id(stored) == _by_id(records)
    assert [n.to_dict() for n in span_trees(stored)] == [n.to_dict() for n in span_trees(records)]
    assert store.verify().ok

    # Personal data reached neither the store nor the exporter unmasked; its masked form did.
    exported_text = json.dumps([r.body() for r in records])
    stored_text = _table_dump(store)
    for secret in SECRETS:
        assert secret not in exported_text and secret not in stored_text
    assert "[CARD ****1111]" in stored_text and "[EMAIL]" in stored_text


async def test_trace_command_renders_the_conversation(
    dev_server: DevServer, tracing: AuditTracerProvider, database_url: str
) -> None:
    conversation, approval_id, _ = await book_with_approval(dev_server, tracing)
    runner = CliRunner()
    env = {"COLUMNS": "200", "DATABASE_URL": database_url}

    shown = runner.invoke(app, ["trace", conversation], env=env)
    assert shown.exit_code == 0, shown.output
    for expected in (
        f"conversation {conversation}",
        'user "Book me the cheapest flight to Zurich',
        "[CARD ****1111]",
        "chat travel-planner (travel-planner) · 220 in (100 cached) / 30 out tokens · tool_use",
        "tool book_flight call-book → needs_approval",
        "? rule within_fare_policy: needs_approval — fare 2400 is above the 1000 cap",
        "✓ rule known_traveller: allow",
        f"ApprovalWorkflow {approval_id}",
        "vote by mallory: approve → rejected: mallory is not an authorised approver",
        "approval decided → approved by bob: client",
        "precondition → ✓ allow (approved by bob)",
    ):
        assert expected in shown.output, expected
    assert CARD not in shown.output
    print(shown.output)  # the rendering, for whoever reads the test log

    as_json = runner.invoke(app, ["trace", conversation, "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    (trace,) = document["traces"]
    (root,) = trace["spans"]
    assert root["step"] == "conversation"
    assert [c["step"] for c in root["children"]] == ["user_message", "run"]
    assert [c["step"] for c in root["children"][1]["children"]][:2] == ["chat", "tool"]

    missing = runner.invoke(app, ["trace", "conv-nobody"], env=env)
    assert missing.exit_code == 1
    assert "no spans recorded for conversation conv-nobody" in missing.output


async def test_a_client_with_the_interceptor_is_enough(
    dev_server: DevServer, tracing: AuditTracerProvider, exported: InMemorySpanExporter
) -> None:
    """Workers inherit the client's interceptor, and record the steps through it."""
    client = await connect(dev_server.address, interceptors=[AuditInterceptor(tracing)])
    queue = f"audit-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    bookings = Bookings()
    async with create_worker(
        client, [agent], task_queue=queue, deps={agent.name: lambda: bookings}
    ):
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="carol")
        reply = await agents.send(conversation, "A flight to Geneva please", sender="carol")
        assert reply.status == "completed"
    assert tracing.force_flush()
    spans = exported.get_finished_spans()
    assert len({_context(s).trace_id for s in spans}) == 1
    (root,) = steps_only(span_trees(span_record(s) for s in spans))
    assert [describe(n) for n in root.children] == ["user_message", "run"]
    assert [describe(n) for n in root.children[1].children] == [
        "chat tool_use",
        "tool search_flights returned",
        "chat tool_use",
        "tool book_flight returned",
        "chat end_turn",
    ]
    assert Counter(s.name for s in spans)["RunActivity:agentflow.tool_call"] == 2


async def test_reminders_escalation_and_expiry_are_recorded(
    dev_server: DevServer, tracing: AuditTracerProvider, exported: InMemorySpanExporter
) -> None:
    client = await dev_server.client()
    queue = f"audit-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    bookings = Bookings()
    step = timedelta(milliseconds=300)
    timers = ApprovalTimers(remind_after=step, escalate_after=step, expire_after=step)
    worker = create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: bookings},
        tracer_provider=tracing,
    )
    async with worker:
        agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
        conversation = await agents.start_conversation(
            agent.name, user="alice", options=DurableOptions(approval=timers)
        )
        assert (
            await agents.send(conversation, MESSAGE, sender="alice")
        ).status == "awaiting_approval"
        final = await agents.wait_for_turn(conversation, 1)
        assert final.output.startswith("Could not book: Approval expired")
    assert tracing.force_flush()
    (root,) = steps_only(span_trees(span_record(s) for s in exported.get_finished_spans()))
    approval = next(n for n in root.walk() if n.name.startswith("StartChildWorkflow:"))
    assert [
        (
            n.attributes["agentflow.approval.event"],
            n.attributes["agentflow.approval.approvers"],
            n.attributes.get("agentflow.approval.outcome"),
        )
        for n in approval.children
    ] == [
        ("requested", ["bob"], None),
        ("reminder", ["bob"], None),
        ("escalated", ["bob", "dana"], None),
        ("expired", ["bob", "dana"], "expired"),
    ]


def _context(span: ReadableSpan) -> SpanContext:
    context = span.get_span_context()
    assert context is not None
    return context


def _by_id(records: list[SpanRecord]) -> list[SpanRecord]:
    return sorted(records, key=lambda r: r.span_id)


def _table_dump(store: AuditStore) -> str:
    with store.engine.connect() as connection:
        # Every value whole (a row's repr shortens long ones).
        rows = connection.execute(text(f"SELECT * FROM {TABLE}")).all()
        return "\n".join(str(value) for row in rows for value in row)


async def test_a_turn_carried_across_runs_is_one_span(
    dev_server: DevServer, tracing: AuditTracerProvider, exported: InMemorySpanExporter
) -> None:
    """A long turn continues as new between two steps: still one turn, one span, all its usage."""
    client = await dev_server.client()
    queue = f"audit-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    bookings = Bookings()
    async with create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: bookings},
        tracer_provider=tracing,
        max_cached_workflows=0,
    ):
        agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
        conversation = await agents.start_conversation(
            agent.name, user="carol", options=DurableOptions(continue_as_new_after_messages=4)
        )
        reply = await agents.send(conversation, "A flight to Geneva please", sender="carol")
        assert reply.status == "completed"
        assert (input_tokens(reply.usage), reply.usage.output_tokens) == (660, 90)
    assert tracing.force_flush()
    spans = exported.get_finished_spans()
    assert Counter(s.name for s in spans)["RunWorkflow:AgentWorkflow"] >= 2  # it did continue
    records = [span_record(s) for s in spans]
    assert len({r.trace_id for r in records}) == 1
    (root,) = steps_only(span_trees(records))
    (turn,) = [n for n in root.walk() if n.step == "run"]
    assert [describe(n) for n in root.children] == ["user_message", "run"]
    assert [describe(n) for n in turn.children] == [
        "chat tool_use",
        "tool search_flights returned",
        "chat tool_use",
        "tool book_flight returned",
        "chat end_turn",
    ]
    t = turn.attributes
    assert (t["gen_ai.usage.input_tokens"], t["gen_ai.usage.output_tokens"]) == (660, 90)
    assert (turn.record.start_ns, turn.record.end_ns) == turn.extent()
