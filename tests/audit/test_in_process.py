"""The in-process driver audited through ``AuditHandler``: same steps, same attributes."""

from __future__ import annotations

import asyncio
import json
import uuid

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typer.testing import CliRunner

from agentflow import Agent, ApprovalDecision, ApprovalRequest, ModelUnavailable
from agentflow.audit import (
    AuditHandler,
    AuditTracerProvider,
    configure_tracing,
    span_record,
    span_trees,
)
from agentflow.audit.tree import SpanNode
from agentflow.cli.main import app
from agentflow.testing import ScriptedModel
from tests.audit.support import CARD, MESSAGE, Bookings, travel_agent, travel_model


def audited_agent(tracing: AuditTracerProvider) -> Agent[Bookings]:
    model = travel_model()
    name = f"travel-{uuid.uuid4().hex[:6]}"
    return travel_agent(
        name, model=model, event_handlers=[AuditHandler(tracing, model=model, agent=name)]
    )


async def bob_approves(request: ApprovalRequest) -> ApprovalDecision:
    return request.decide("approved", approver="bob")


def traces(exported: InMemorySpanExporter) -> list[SpanNode]:
    return span_trees(span_record(s) for s in exported.get_finished_spans())


def steps(root: SpanNode) -> list[str]:
    return [f"{n.name} [{n.step}]" for n in root.walk()]


async def test_a_run_is_one_trace_with_every_step(
    tracing: AuditTracerProvider, exported: InMemorySpanExporter
) -> None:
    agent = audited_agent(tracing)
    result = await agent.run(MESSAGE, deps=Bookings(), user="alice", approvals=bob_approves)
    assert result.status == "completed"
    assert tracing.force_flush()

    (root,) = traces(exported)
    assert steps(root) == [
        f"invoke_agent {agent.name} [run]",
        "chat travel-planner [chat]",
        "execute_tool search_flights [tool]",
        "precondition search_flights [precondition]",
        "intent search_flights [intent]",
        "chat travel-planner [chat]",
        "execute_tool book_flight [tool]",
        "precondition book_flight [precondition]",
        "approval requested [approval]",
        "approval decided [approval]",
        "execute_tool book_flight [tool]",
        "precondition book_flight [precondition]",
        "intent book_flight [intent]",
        "chat travel-planner [chat]",
    ]
    assert root.attributes["gen_ai.conversation.id"] == result.conversation_id
    assert root.attributes["agentflow.run.status"] == "completed"
    assert root.attributes["gen_ai.usage.input_tokens"] == 3 * 220
    chat = root.children[0].attributes
    assert (chat["gen_ai.provider.name"], chat["gen_ai.agent.name"]) == (
        "travel-planner",
        agent.name,
    )
    decided = next(n for n in root.walk() if n.name == "approval decided").attributes
    assert (decided["agentflow.approval.outcome"], decided["agentflow.approval.approver"]) == (
        "approved",
        "bob",
    )
    # Each child lies within its parent's time span: durations were put back where they belong.
    for node in root.walk():
        for child in node.children:
            assert node.record.start_ns <= child.record.start_ns <= child.record.end_ns
            assert child.record.end_ns <= node.record.end_ns

    assert tracing.store is not None
    stored = [s.record for s in tracing.store.conversation(result.conversation_id)]
    assert sorted(stored, key=lambda r: r.span_id) == sorted(
        (span_record(s) for s in exported.get_finished_spans()), key=lambda r: r.span_id
    )
    assert tracing.store.verify().ok


async def test_a_paused_and_resumed_conversation_reads_as_two_runs(
    tracing: AuditTracerProvider, database_url: str
) -> None:
    agent = audited_agent(tracing)
    paused = await agent.run(MESSAGE, deps=Bookings(), user="alice")
    assert paused.status == "awaiting_approval"
    (request,) = paused.pending_approvals
    decision = request.decide("denied", approver="bob", reason="take the train")
    final = await agent.resume(paused, [decision], deps=Bookings(), user="alice")
    assert final.output.startswith("Could not book: Approval denied by bob")
    assert tracing.force_flush()

    shown = CliRunner().invoke(
        app,
        ["trace", paused.conversation_id, "--database-url", database_url],
        env={"COLUMNS": "200"},
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("trace ") == 2
    assert "run " + paused.conversation_id in shown.output
    assert "approval decided → denied by bob: take the train" in shown.output
    assert "awaiting_approval" in shown.output and "completed" in shown.output


async def test_concurrent_runs_do_not_mix(
    tracing: AuditTracerProvider, exported: InMemorySpanExporter
) -> None:
    agent = audited_agent(tracing)
    results = await asyncio.gather(
        agent.run("A flight to Geneva please", deps=Bookings(), user="alice"),
        agent.run("A flight to Geneva for me too", deps=Bookings(), user="carol"),
    )
    assert tracing.force_flush()
    roots = traces(exported)
    assert sorted(r.attributes["gen_ai.conversation.id"] for r in roots) == sorted(
        r.conversation_id for r in results
    )
    for root in roots:
        assert [n.step for n in root.children] == ["chat", "tool", "chat", "tool", "chat"]


async def test_denials_and_model_failures_are_recorded(
    tracing: AuditTracerProvider, exported: InMemorySpanExporter
) -> None:
    agent = audited_agent(tracing)
    denied = await agent.run("Tokyo, business class", deps=Bookings(), user="alice")
    assert "hard cap" in denied.output
    failing = ScriptedModel([ModelUnavailable("the API did not answer")])
    broken = Agent(failing, event_handlers=[AuditHandler(tracing, model=failing)])
    failed = await broken.run("hello")
    assert failed.status == "model_error"
    assert tracing.force_flush()

    denial, failure = traces(exported)
    tool = next(n for n in denial.walk() if n.name == "execute_tool book_flight")
    assert tool.attributes["agentflow.tool.outcome"] == "denied"
    assert tool.attributes["agentflow.tool.reasons"] == ["fare 9100 is above the hard cap of 5000"]
    (precondition,) = tool.children
    assert precondition.attributes["agentflow.precondition.decision"] == "deny"
    assert [e["attributes"]["agentflow.rule.verdict"] for e in precondition.record.events] == [
        "deny",
        "allow",
    ]
    (chat,) = failure.children
    assert chat.record.status == "error"
    assert chat.record.status_message == "the API did not answer"
    assert failure.attributes["agentflow.run.status"] == "model_error"


async def test_content_can_be_left_out_entirely(database_url: str) -> None:
    exported = InMemorySpanExporter()
    tracing = configure_tracing(
        database_url=database_url, exporters=[exported], record_content=False, otlp=False
    )
    try:
        agent = audited_agent(tracing)
        await agent.run(MESSAGE, deps=Bookings(), user="alice", approvals=bob_approves)
        assert tracing.force_flush()
    finally:
        tracing.shutdown()
    records = [span_record(s) for s in exported.get_finished_spans()]
    content = {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "agentflow.approval.arguments",
        "agentflow.user_message",
    }
    assert not [key for r in records for key in r.attributes if key in content]
    text = json.dumps([r.body() for r in records])
    # The card's digits as written (span and trace ids are random hex, which can hold "1111").
    assert "Zurich" not in text and CARD not in text and "alice@example.com" not in text
    # What was decided, and why, is still there.
    assert "fare 2400 is above the 1000 cap" in text
    assert '"agentflow.approval.approver": "bob"' in text


async def test_the_trail_records_where_each_argument_came_from(
    tracing: AuditTracerProvider, exported: InMemorySpanExporter
) -> None:
    agent = audited_agent(tracing)
    await agent.run(MESSAGE, deps=Bookings(), user="alice", approvals=bob_approves)
    assert tracing.force_flush()
    (root,) = traces(exported)
    booked = [n for n in root.walk() if n.name == "precondition book_flight"]
    requested = next(n for n in root.walk() if n.name == "approval requested")
    expected = (
        "flight_id: the output of search_flights (untrusted)",
        "price: the output of search_flights (untrusted)",
        "card_number: the employee's message",
    )
    # Recorded with the decision that asked for approval, on the request, and with the
    # decision that let the approved call run.
    for node in (*booked, requested):
        assert tuple(node.attributes["agentflow.precondition.provenance"]) == expected
    assert len(booked) == 2
    # Where a value came from is said in words: the card number itself is not repeated.
    assert CARD not in json.dumps([dict(n.attributes) for n in root.walk()])
