"""Composites of rules fail closed: a part that answers no decision counts as a denial.

A leaf rule's answer is checked where it is made (:class:`~agentflow.preconditions.Precondition`
turns anything but a decision into a denial). A part written as its own ``Precondition``
subclass answers through ``evaluate`` and skips that check, so the composites check again.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from agentflow import Allow, Deny, NeedsApproval, RunContext, all_of, any_of, precondition
from agentflow.binding import ApprovalStage
from agentflow.preconditions import Decision, Evaluation, Precondition, RuleVerdict, refusal

CTX = RunContext(deps=None, user="alice")
ALLOW = precondition(lambda ctx, args: Allow(), name="allow", text="Allow.")
ASK = precondition(lambda ctx, args: NeedsApproval("ask", approvers=["bob"]), name="ask", text="")


class Garbled(Precondition):
    def __init__(self, answer: object) -> None:
        super().__init__(lambda ctx, args: Allow(), name="garbled", text="Garbled.")
        self.answer = answer

    async def evaluate(self, ctx: RunContext[Any], args: Any) -> Evaluation:
        return Evaluation(self.answer, ())  # type: ignore[arg-type]  # the fault under test


@pytest.mark.parametrize("answer", [None, "allow", True, Allow], ids=repr)
async def test_all_of_denies_when_a_part_answers_no_decision(answer: object) -> None:
    for parts in ((ALLOW, Garbled(answer)), (Garbled(answer), ASK)):
        decision = (await all_of(*parts).evaluate(CTX, None)).decision
        assert isinstance(decision, Deny)
        assert decision.reasons == (
            f"the preconditions answered {answer!r}, which is not a decision",
        )


async def test_any_of_reports_an_unexpected_answer_among_its_denials() -> None:
    decision = (
        await any_of(
            Garbled(None),
            precondition(lambda ctx, args: Deny("too late"), name="late", text="Late."),
        ).evaluate(CTX, None)
    ).decision
    assert decision == Deny("the preconditions answered None, which is not a decision", "too late")


async def test_a_leaf_answering_no_decision_is_recorded_as_a_denial() -> None:
    def sloppy(ctx: RunContext[Any], args: Any) -> Any:
        return "yes"

    evaluation = await precondition(sloppy, text="Sloppy.").evaluate(CTX, None)
    assert isinstance(evaluation.decision, Deny)
    assert evaluation.verdicts == (RuleVerdict("sloppy", "deny", evaluation.decision.reasons),)


def test_refusal_gives_the_reasons_of_anything_but_allow() -> None:
    assert refusal(Deny("a", "b")) == ("a", "b")
    assert refusal(NeedsApproval("x")) == ("the call still needs approval",)
    assert refusal(42) == ("the preconditions answered 42, which is not a decision",)


# -- what a composite passes on and reports ------------------------------------------------------


class Fare(BaseModel):
    price: int


def under(limit: int) -> Precondition:
    def check(ctx: RunContext[Any], args: Fare) -> Decision:
        return Allow() if args.price <= limit else Deny(f"over {limit}")

    return precondition(check, name=f"under_{limit}", text=f"At most {limit}.")


@pytest.mark.parametrize("combine", [all_of, any_of], ids=["all_of", "any_of"])
async def test_a_composite_hands_the_arguments_to_every_part(combine: Any) -> None:
    rules = combine(under(500), under(800))
    assert (await rules.evaluate(CTX, Fare(price=400))).decision == Allow()
    assert isinstance((await rules.evaluate(CTX, Fare(price=900))).decision, Deny)


async def test_every_rule_is_in_the_trail_when_all_allow() -> None:
    evaluation = await all_of(under(500), ALLOW).evaluate(CTX, Fare(price=1))
    assert evaluation.decision == Allow()
    assert evaluation.verdicts == (RuleVerdict("under_500", "allow"), RuleVerdict("allow", "allow"))


def test_a_composite_is_named_after_its_rules() -> None:
    rules = (under(500) & ALLOW) | ASK
    assert rules.name == "under_500 & allow | ask"
    assert repr(rules) == "<Precondition under_500 & allow | ask>"


async def test_merged_approvals_keep_what_every_rule_lets_the_approver_edit() -> None:
    wide = precondition(
        lambda ctx, args: NeedsApproval("cabin", approvers=["bob"], editable=["cabin", "date"]),
        name="wide",
        text="",
    )
    narrow = precondition(
        lambda ctx, args: NeedsApproval("date", approvers=["carol"], editable=["date"]),
        name="narrow",
        text="",
    )
    decision = (await all_of(wide, narrow).evaluate(CTX, None)).decision
    assert decision == NeedsApproval("cabin", "date", approvers=["bob", "carol"], editable=["date"])
    alone = (await all_of(wide, wide).evaluate(CTX, None)).decision
    assert isinstance(alone, NeedsApproval)
    assert alone.editable == ("cabin", "date")


def test_approvers_named_beside_stages_are_the_ones_listed() -> None:
    stages = [ApprovalStage(approvers=("manager",)), ApprovalStage(approvers=("finance",))]
    assert NeedsApproval("x", approvers=["desk"], stages=stages).approvers == ("desk",)
    assert NeedsApproval("x", stages=stages).approvers == ("manager", "finance")
    assert NeedsApproval("x").approvers == ()
