"""Using one approval uses that approval only.

Two conversations can ask for the very same call (same tool, same arguments, same digest): each
approval is its own, and executing under one must leave the other usable, exactly once.
"""

from __future__ import annotations

from sqlalchemy import Engine

from agentflow import ApprovalRequest, call_digest
from agentflow.approvals import ApprovalLedger

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
