"""The executor's last word before a tool body runs: faults it must never let through.

Each test states one property of :func:`agentflow.execution.invoke_tool` (and of the approval
checks it applies), and fails if the executor, the rulebook or a composite of rules loses it.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from agentflow import (
    ApprovalDecision,
    ApprovalError,
    NeedsApproval,
    RunContext,
    any_of,
    call_digest,
    precondition,
    tool,
)
from agentflow.binding import ApprovalStage
from agentflow.execution import approve_with_edits, invoke_tool
from agentflow.loop import ToolCall
from agentflow.outcomes import ToolDenied, ToolNeedsApproval, ToolOutcome, ToolReturned
from agentflow.preconditions import Allow, Decision, Deny, Evaluation, Precondition, all_of
from agentflow.tools import Tool

ARGS = {"amount": 500.0}
RAN: list[float] = []


def staged(*stages: ApprovalStage) -> Tool[Any]:
    """A tool whose rule asks for ``stages``, and that notes every time its body runs."""

    @precondition(name="staged", text="Stages.")
    def ask(ctx: RunContext[None], args: Any) -> Decision:
        return NeedsApproval("big spend", stages=stages, editable=["amount"])

    @tool(requires=ask)
    def spend(amount: float) -> str:
        """Spend money."""
        RAN.append(amount)
        return f"spent {amount}"

    return spend


def approval(approver: str | None, *stages: tuple[str, ...]) -> ApprovalDecision:
    return ApprovalDecision(
        digest=call_digest("spend", ARGS),
        outcome="approved",
        approver=approver,
        stage_approvals=stages,
    )


async def run(spend: Tool[Any], decision: ApprovalDecision | None) -> ToolOutcome:
    RAN.clear()
    call = ToolCall(
        id="c1", name="spend", arguments=ARGS, digest=call_digest("spend", ARGS), approval=decision
    )
    return await invoke_tool(spend, RunContext(deps=None, user="alice", approval=decision), call)


def denied(outcome: ToolOutcome, problem: str) -> bool:
    return (
        isinstance(outcome, ToolDenied)
        and any(problem in reason for reason in outcome.reasons)
        and not RAN
    )


# -- one approval, one person, one stage --------------------------------------------------------

A_OR_B = ApprovalStage(approvers=("carol", "dan"))
A_OR_C = ApprovalStage(approvers=("carol", "erin"))


async def test_nobody_fills_two_stages_with_one_approval() -> None:
    spend = staged(A_OR_B, A_OR_C)
    outcome = await run(spend, approval("carol", ("carol",), ("carol",)))
    assert denied(outcome, "stage 2 needs 1 distinct approver(s), has 0"), outcome
    assert await run(spend, approval("erin", ("carol",), ("erin",))) == ToolReturned(
        call_id="c1", content="spent 500.0"
    )


async def test_nobody_counts_again_in_a_later_stage_after_someone_else_did() -> None:
    spend = staged(A_OR_B, ApprovalStage(approvers=("dan",)), A_OR_C)
    outcome = await run(spend, approval("carol", ("carol",), ("dan",), ("carol",)))
    assert denied(outcome, "stage 3 needs 1 distinct approver(s), has 0"), outcome


@pytest.mark.parametrize("final", ["alice", None], ids=["the requester", "nobody"])
async def test_a_requester_or_nobody_as_the_final_approver_approves_nothing(
    final: str | None,
) -> None:
    spend = staged(ApprovalStage(approvers=("bob",)))
    outcome = await run(spend, approval(final, ("bob",)))
    assert denied(outcome, "cannot be approved by its requester or by nobody"), outcome


# -- fail closed: only Allow runs a body --------------------------------------------------------


class Garbled(Precondition):
    """A rule whose evaluation answers ``answer`` instead of a decision (a plug-in gone wrong)."""

    def __init__(self, answer: object, *, after_approval: object = None) -> None:
        super().__init__(lambda ctx, args: Allow(), name="garbled", text="Garbled.")
        self.answer, self.after_approval = answer, after_approval

    async def evaluate(self, ctx: RunContext[Any], args: Any) -> Evaluation:
        answer = self.answer if ctx.approval is None else self.after_approval
        return Evaluation(answer, ())  # type: ignore[arg-type]  # the fault under test


ALLOW = precondition(lambda ctx, args: Allow(), name="allow", text="Allow.")
DENY = precondition(lambda ctx, args: Deny("no"), name="deny", text="Deny.")
UNEXPECTED = [None, "allow", True, Allow, Evaluation(Allow(), ())]


def guarded(requires: Precondition) -> Tool[Any]:
    @tool(requires=requires)
    def spend(amount: float) -> str:
        """Spend money."""
        RAN.append(amount)
        return f"spent {amount}"

    return spend


@pytest.mark.parametrize("answer", UNEXPECTED, ids=repr)
async def test_a_rule_answering_something_unexpected_refuses(answer: object) -> None:
    outcome = await run(guarded(Garbled(answer)), None)
    assert denied(outcome, "which is not a decision"), outcome


@pytest.mark.parametrize("answer", UNEXPECTED, ids=repr)
async def test_a_composite_with_an_unexpected_part_refuses(answer: object) -> None:
    assert denied(await run(guarded(all_of(ALLOW, Garbled(answer))), None), "not a decision")
    assert denied(await run(guarded(any_of(DENY, Garbled(answer))), None), "not a decision")
    # One part that allows is enough for any_of, whatever the others answer.
    assert isinstance(await run(guarded(any_of(Garbled(answer), ALLOW)), None), ToolReturned)


async def test_an_approval_never_turns_an_unexpected_answer_into_allow() -> None:
    spend = guarded(Garbled(NeedsApproval("ask", approvers=["bob"]), after_approval="yes"))
    outcome = await run(spend, approval("bob", ("bob",)))
    assert denied(outcome, "which is not a decision"), outcome


async def test_an_edit_stands_only_if_the_rules_allow_the_edited_call() -> None:
    asks = NeedsApproval("ask", approvers=["bob"], editable=["amount"])
    spend = guarded(Garbled(asks, after_approval=object()))
    proposed = await run(spend, None)
    assert isinstance(proposed, ToolNeedsApproval)
    request = proposed.request
    ctx = RunContext(deps=None, user="alice", tool_call_id="c1")
    with pytest.raises(ApprovalError, match=r"the edited call is refused: .*not a decision"):
        await approve_with_edits(spend, ctx, request, {"amount": 20.0}, request.approve("bob"))


# -- what the executor validates, asks and binds --------------------------------------------------

CAPPED = precondition(
    lambda ctx, args: Allow() if args.amount <= 1000 else Deny("over the cap"),
    name="capped",
    text="At most 1000.",
)


class Lookalike(BaseModel):
    amount: float


async def test_arguments_validated_as_another_model_are_validated_again() -> None:
    RAN.clear()
    spend = guarded(CAPPED)
    call = ToolCall(id="c1", name="spend", arguments={"amount": 5000.0}, digest="")
    ctx = RunContext(deps=None, user="alice")
    outcome = await invoke_tool(spend, ctx, call, validated=Lookalike(amount=1.0))
    assert outcome == ToolDenied(call_id="c1", reasons=("over the cap",))
    assert not RAN


async def test_a_call_with_invalid_arguments_is_refused_as_that_call() -> None:
    RAN.clear()
    call = ToolCall(id="c7", name="spend", arguments={"amount": "a lot"}, digest="")
    outcome = await invoke_tool(guarded(CAPPED), RunContext(deps=None, user="alice"), call)
    assert isinstance(outcome, ToolDenied)
    assert outcome.call_id == "c7"
    assert outcome.reasons and "amount" in outcome.reasons[0]
    assert not RAN


async def test_the_approval_request_says_why_it_is_needed() -> None:
    proposed = await run(staged(A_OR_B), None)
    assert isinstance(proposed, ToolNeedsApproval)
    assert proposed.request.reasons == ("big spend",)


async def test_an_edited_approval_is_bound_to_the_edited_call_and_runs_only_it() -> None:
    spend = staged(A_OR_B)
    proposed = await run(spend, None)
    assert isinstance(proposed, ToolNeedsApproval)
    request = proposed.request
    ctx = RunContext(deps=None, user="alice", tool_call_id="c1")
    edited = await approve_with_edits(spend, ctx, request, {"amount": 20}, request.approve("carol"))
    assert edited.arguments == {"amount": 20.0}
    edited_arguments = {"amount": 20.0}
    assert edited.digest == call_digest("spend", {"amount": 20.0}) != request.digest
    assert edited.request_digest == request.digest

    RAN.clear()
    call = ToolCall(
        id="c1", name="spend", arguments=edited_arguments, digest=edited.digest, approval=edited
    )
    outcome = await invoke_tool(
        spend, RunContext(deps=None, user="alice", approval=edited, tool_call_id="c1"), call
    )
    assert isinstance(outcome, ToolReturned)
    assert RAN == [20.0]
    # The proposed call is not what was approved.
    assert denied(await run(spend, edited), "different arguments")


@pytest.mark.parametrize("same", [500, 500.0, "500"], ids=repr)
async def test_an_edit_that_changes_nothing_is_refused(same: object) -> None:
    spend = staged(A_OR_B)
    proposed = await run(spend, None)
    assert isinstance(proposed, ToolNeedsApproval)
    request = proposed.request
    ctx = RunContext(deps=None, user="alice", tool_call_id="c1")
    with pytest.raises(ApprovalError, match="changes nothing"):
        await approve_with_edits(spend, ctx, request, {"amount": same}, request.approve("carol"))
