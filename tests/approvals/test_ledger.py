"""The ledger makes an approval single-use: one execution wins, whatever races."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine

from agentflow import ApprovalDecision, ApprovalRequest, call_digest
from agentflow.approvals import ApprovalLedger
from agentflow.context import RunContext
from agentflow.temporal.contracts import ApprovalResult

ARGS = {"offer_id": "LX318-2026-12-16-B"}
DIGEST = call_digest("book_flight", ARGS)
APPROVAL_ID = "conv-1/approval/call-1"
APPROVED = ApprovalDecision(digest=DIGEST, outcome="approved", approver="bob")
REQUEST = ApprovalRequest(
    tool="book_flight",
    tool_call_id="call-1",
    arguments=ARGS,
    digest=DIGEST,
    requester="alice",
    approvers=("bob", "dana"),
    reasons=("business class needs a flight of 6 h or more",),
)


def consume(ledger: ApprovalLedger, key: str, decision: ApprovalDecision = APPROVED) -> bool:
    return ledger.consume(APPROVAL_ID, decision, key=key, tool="book_flight", requester="alice")


def test_an_approval_is_used_once_and_its_own_retry_may_go_on(engine: Engine) -> None:
    ledger = ApprovalLedger(
        engine, policy_version="travel-1", schema_versions={"book_flight": "s1"}
    )
    ledger.record_request(APPROVAL_ID, "conv-1", REQUEST)

    assert consume(ledger, "conv-1:call-1")
    assert consume(ledger, "conv-1:call-1"), "a retry of the same execution is the same use"
    assert not consume(ledger, "conv-2:call-9")

    record = ledger.get(APPROVAL_ID)
    assert record is not None
    assert (record.tool, record.schema_version, record.policy_version) == (
        "book_flight",
        "s1",
        "travel-1",
    )
    assert (record.requester, record.approvers, record.state) == (
        "alice",
        '["bob", "dana"]',
        "approved",
    )
    assert record.consumed_at is not None and record.consumed_by == "conv-1:call-1"


def test_two_concurrent_executions_one_wins(engine: Engine) -> None:
    ledger = ApprovalLedger(engine)
    ledger.record_request(APPROVAL_ID, "conv-1", REQUEST)
    contenders = 8
    barrier = threading.Barrier(contenders)

    def race(index: int) -> bool:
        barrier.wait()
        return consume(ledger, f"conv-{index}:call-1")

    with ThreadPoolExecutor(contenders) as pool:
        results = list(pool.map(race, range(contenders)))

    assert results.count(True) == 1
    record = ledger.get(APPROVAL_ID)
    assert record is not None
    assert record.consumed_by == f"conv-{results.index(True)}:call-1"


def test_an_approval_does_not_cover_other_arguments(engine: Engine) -> None:
    ledger = ApprovalLedger(engine)
    ledger.record_request(APPROVAL_ID, "conv-1", REQUEST)
    other = call_digest("book_flight", {"offer_id": "LX318-2026-12-17-B"})

    assert not consume(ledger, "conv-1:call-1", APPROVED.model_copy(update={"digest": other}))
    record = ledger.get(APPROVAL_ID)
    assert record is not None and record.consumed_at is None


def test_denied_or_decided_otherwise_authorises_nothing(engine: Engine) -> None:
    ledger = ApprovalLedger(engine)
    ledger.record_request(APPROVAL_ID, "conv-1", REQUEST)
    denied = ApprovalDecision(digest=DIGEST, outcome="denied", approver="bob", reason="no")
    ledger.record_result(APPROVAL_ID, ApprovalResult(decision=denied, decided_at=datetime.now(UTC)))

    assert not consume(ledger, "conv-1:call-1", denied)
    assert not consume(ledger, "conv-1:call-1"), "the record says denied: an approval is refused"
    record = ledger.get(APPROVAL_ID)
    assert record is not None
    assert (record.state, record.reason, record.consumed_at) == ("denied", "no", None)


def test_the_first_outcome_stands(engine: Engine) -> None:
    ledger = ApprovalLedger(engine)
    ledger.record_request(APPROVAL_ID, "conv-1", REQUEST)
    ledger.record_result(
        APPROVAL_ID, ApprovalResult(decision=APPROVED, decided_at=datetime.now(UTC))
    )
    late = ApprovalDecision(digest=DIGEST, outcome="expired")
    ledger.record_result(APPROVAL_ID, ApprovalResult(decision=late, decided_at=datetime.now(UTC)))
    record = ledger.get(APPROVAL_ID)
    assert record is not None and record.state == "approved"


def test_a_tool_uses_the_approval_from_its_context(engine: Engine) -> None:
    ledger = ApprovalLedger(engine)
    ctx = RunContext(
        deps=None, user="alice", conversation_id="conv-1", tool_call_id="call-1", approval=APPROVED
    )
    assert ledger.use(ctx, "book_flight")
    again = RunContext(
        deps=None, user="alice", conversation_id="conv-1", tool_call_id="call-1", approval=APPROVED
    )
    assert ledger.use(again, "book_flight")
    assert not ledger.use(RunContext(deps=None, user="alice"), "book_flight")
    record = ledger.get(APPROVAL_ID)
    assert record is not None and record.consumed_by == "conv-1:call-1"


def test_an_edited_approval_keeps_the_three_calls_apart(engine: Engine) -> None:
    """Proposed, approved (edited) and executed calls are stored; only the edited call runs."""
    ledger = ApprovalLedger(engine)
    ledger.record_request(APPROVAL_ID, "conv-1", REQUEST)
    cheaper = {"offer_id": "LX318-2026-12-16-Y"}
    edited = ApprovalDecision(
        digest=call_digest("book_flight", cheaper),
        outcome="approved",
        approver="bob",
        edited_from=DIGEST,
        arguments=cheaper,
    )
    ledger.record_result(APPROVAL_ID, ApprovalResult(decision=edited, decided_at=datetime.now(UTC)))
    assert set(ledger.calls(APPROVAL_ID)) == {"proposed", "approved"}

    # The proposed call was not what bob approved: its digest cannot use the approval.
    assert not consume(ledger, "conv-1:call-1", APPROVED)
    assert consume(ledger, "conv-1:call-1", edited)
    assert consume(ledger, "conv-1:call-1", edited)  # the same execution, retried
    assert not consume(ledger, "conv-1:call-2", edited)

    calls = ledger.calls(APPROVAL_ID)
    assert [(role, calls[role].digest) for role in ("proposed", "approved", "executed")] == [
        ("proposed", DIGEST),
        ("approved", edited.digest),
        ("executed", edited.digest),
    ]
    assert calls["executed"].arguments == '{"offer_id":"LX318-2026-12-16-Y"}'
    record = ledger.get(APPROVAL_ID)
    assert record is not None and (record.digest, record.consumed_by) == (DIGEST, "conv-1:call-1")
