"""Using one approval uses that approval only.

Two conversations can ask for the very same call (same tool, same arguments, same digest): each
approval is its own, and executing under one must leave the other usable, exactly once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Engine

from agentflow import ApprovalRequest, call_digest
from agentflow.approvals import ApprovalLedger, LedgerChannel
from agentflow.approvals.records import ApprovalNotice, ApprovalResult, NoticeKind
from agentflow.testing.channels import RecordingChannel

ARGS = {"offer_id": "LX318-2026-12-16-B"}
DIGEST = call_digest("book_flight", ARGS)


def request(conversation: str) -> ApprovalRequest:
    return ApprovalRequest(
        tool="book_flight",
        tool_call_id="call-1",
        arguments=ARGS,
        digest=DIGEST,
        requester="alice",
        conversation_id=conversation,
        approvers=("bob",),
    )


def test_using_an_approval_leaves_another_for_the_same_call_usable(engine: Engine) -> None:
    ledger = ApprovalLedger(engine)
    first, second = request("conv-1"), request("conv-2")
    ledger.record_request("conv-1/approval/call-1", "conv-1", first)
    ledger.record_request("conv-2/approval/call-1", "conv-2", second)

    def use(conversation: str, key: str) -> bool:
        return ledger.consume(
            f"{conversation}/approval/call-1",
            request(conversation).approve("bob"),
            key=key,
            tool="book_flight",
            requester="alice",
        )

    assert use("conv-1", "conv-1:call-1")
    other = ledger.get("conv-2/approval/call-1")
    assert other is not None and other.consumed_at is None, "the other approval was burnt"
    assert use("conv-2", "conv-2:call-1")
    assert not use("conv-2", "conv-3:call-1"), "each approval is still used once"


def test_the_record_keeps_what_was_asked_and_when(engine: Engine) -> None:
    ledger = ApprovalLedger(engine)
    before = datetime.now(UTC)
    ledger.record_request("conv-1/approval/call-1", "conv-1", request("conv-1"))
    record = ledger.get("conv-1/approval/call-1")
    assert record is not None
    assert json.loads(record.arguments) == ARGS
    assert record.requested_at is not None
    assert before <= record.requested_at.replace(tzinfo=UTC) <= datetime.now(UTC)


def test_an_approval_used_before_its_outcome_arrives_reads_approved(engine: Engine) -> None:
    ledger = ApprovalLedger(engine)
    asked = request("conv-1")
    ledger.record_request("conv-1/approval/call-1", "conv-1", asked)
    assert ledger.consume(
        "conv-1/approval/call-1",
        asked.approve("bob"),
        key="conv-1:call-1",
        tool="book_flight",
        requester="alice",
    )
    record = ledger.get("conv-1/approval/call-1")
    assert record is not None
    assert (record.state, record.authority, record.consumed_by) == (
        "approved",
        "bob",
        "conv-1:call-1",
    )
    executed = ledger.calls("conv-1/approval/call-1")["executed"]
    assert (executed.digest, json.loads(executed.arguments)) == (DIGEST, ARGS)


async def test_the_ledger_channel_records_each_notice_then_passes_it_on(engine: Engine) -> None:
    ledger, shown = ApprovalLedger(engine), RecordingChannel()
    asked = request("conv-1")
    decided = ApprovalResult(decision=asked.approve("bob"), decided_at=datetime.now(UTC))
    channel = LedgerChannel(ledger, shown)
    steps: list[tuple[NoticeKind, ApprovalResult | None]] = [
        ("requested", None),
        ("decided", decided),
    ]
    for kind, result in steps:
        notice = ApprovalNotice(
            kind=kind,
            workflow_id="conv-1/approval/call-1",
            conversation_id="conv-1",
            request=asked,
            approvers=("bob",),
            result=result,
        )
        await channel.notify(notice)
    record = ledger.get("conv-1/approval/call-1")
    assert record is not None and (record.state, record.authority) == ("approved", "bob")
    assert shown.kinds() == ["requested", "decided"]


def test_an_approval_used_before_its_request_is_recorded_is_used_once(engine: Engine) -> None:
    ledger = ApprovalLedger(engine)
    decision = request("conv-1").approve("bob")

    def use(key: str) -> bool:
        return ledger.consume(
            "conv-1/approval/call-1",
            decision,
            key=key,
            tool="book_flight",
            requester="alice",
            conversation_id="conv-1",
            tool_call_id="call-1",
        )

    assert use("conv-1:call-1")
    record = ledger.get("conv-1/approval/call-1")
    assert record is not None
    assert (record.state, record.digest, record.consumed_by) == (
        "approved",
        DIGEST,
        "conv-1:call-1",
    )
    assert not use("conv-9:call-1")
