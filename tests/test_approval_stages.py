"""Stages in the core: how rules ask for them, and how the executor checks an approval's stages
again before a tool body runs (a decision alone never authorises more than the rules ask)."""

from __future__ import annotations

from typing import Any

import pytest

from agentflow import ApprovalDecision, NeedsApproval, RunContext, call_digest, precondition, tool
from agentflow.binding import ApprovalStage
from agentflow.execution import invoke_tool
from agentflow.loop import ToolCall
from agentflow.outcomes import ToolDenied, ToolNeedsApproval, ToolReturned
from agentflow.preconditions import Decision

MANAGER = ApprovalStage(approvers=("bob",), name="manager")
DIRECTORS = ApprovalStage(approvers=("dana", "erin", "frank"), required=2)


@precondition
def two_stages(ctx: RunContext[None], args: Any) -> Decision:
    """A manager, then two of three directors."""
    return NeedsApproval("big spend", stages=[MANAGER, DIRECTORS], editable=["amount"])


@tool(requires=two_stages)
def spend(amount: float) -> str:
    """Spend money."""
    return f"spent {amount}"


ARGS = {"amount": 50_000.0}
DIGEST = call_digest("spend", ARGS)


def call(approval: ApprovalDecision | None = None) -> ToolCall:
    return ToolCall(id="c1", name="spend", arguments=ARGS, digest=DIGEST, approval=approval)


def approved(*stages: tuple[str, ...]) -> ApprovalDecision:
    return ApprovalDecision(
        digest=DIGEST, outcome="approved", approver=stages[-1][-1], stage_approvals=stages
    )


async def run(approval: ApprovalDecision | None) -> Any:
    ctx = RunContext(deps=None, user="alice", approval=approval)
    return await invoke_tool(spend, ctx, call(approval))


async def test_the_request_carries_the_stages_and_what_may_be_edited() -> None:
    outcome = await run(None)
    assert isinstance(outcome, ToolNeedsApproval)
    request = outcome.request
    assert request.plan() == (MANAGER, DIRECTORS)
    assert request.editable == ("amount",)
    assert request.approvers == ("bob", "dana", "erin", "frank")


async def test_every_stage_approved_runs_the_tool() -> None:
    outcome = await run(approved(("bob",), ("dana", "frank")))
    assert outcome == ToolReturned(call_id="c1", content="spent 50000.0")


@pytest.mark.parametrize(
    ("stages", "problem"),
    [
        ((("bob",),), "the approval has 1 stage(s); the rules ask for 2"),
        ((("bob",), ("dana",)), "stage 2 needs 2 distinct approver(s), has 1"),
        ((("bob",), ("dana", "dana")), "stage 2 needs 2 distinct approver(s), has 1"),
        ((("dana",), ("erin", "frank")), "dana is not an authorised approver"),
        ((("bob",), ("bob", "erin")), "bob is not an authorised approver"),
        ((("bob",), ("alice", "erin")), "cannot be approved by its requester"),
    ],
)
async def test_an_approval_short_of_the_stages_is_denied(
    stages: tuple[tuple[str, ...], ...], problem: str
) -> None:
    outcome = await run(approved(*stages))
    assert isinstance(outcome, ToolDenied)
    assert any(problem in reason for reason in outcome.reasons), outcome.reasons


async def test_merged_rules_keep_every_stage_and_only_shared_edits() -> None:
    @precondition
    def manager(ctx: RunContext[None], args: Any) -> Decision:
        """Manager."""
        return NeedsApproval("a", approvers=["bob"], editable=["amount", "note"])

    @precondition
    def board(ctx: RunContext[None], args: Any) -> Decision:
        """Board."""
        return NeedsApproval("b", stages=[DIRECTORS], editable=["amount"])

    decision = (await (manager & board).evaluate(RunContext(deps=None), None)).decision
    assert isinstance(decision, NeedsApproval)
    assert decision.plan() == (ApprovalStage(approvers=("bob",)), DIRECTORS)
    assert decision.editable == ("amount",)
