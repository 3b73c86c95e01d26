from __future__ import annotations

from typing import Any

import pytest

from agentflow import Allow, Deny, NeedsApproval, RunContext, all_of, any_of, precondition
from agentflow.preconditions import Decision, RuleVerdict

CTX = RunContext(deps=None, user="alice")


def rule(name: str, decision: Decision) -> Any:
    def check(ctx: RunContext[Any], args: Any) -> Decision:
        return decision

    return precondition(check, name=name, text=f"rule {name}")


async def test_all_of_reports_every_broken_rule_and_denial_beats_approval() -> None:
    p = all_of(
        rule("a", Allow()),
        rule("b", Deny("too expensive")),
        rule("c", NeedsApproval("business class", approvers=["bob"])),
        rule("d", Deny("too late")),
    )
    evaluation = await p.evaluate(CTX, None)
    assert evaluation.decision == Deny("too expensive", "too late")
    assert evaluation.verdicts == (
        RuleVerdict("a", "allow"),
        RuleVerdict("b", "deny", ("too expensive",)),
        RuleVerdict("c", "needs_approval", ("business class",)),
        RuleVerdict("d", "deny", ("too late",)),
    )
    assert p.rules() == ["rule a", "rule b", "rule c", "rule d"]


async def test_all_of_merges_approvals() -> None:
    p = rule("x", NeedsApproval("r1", approvers=["bob"])) & rule(
        "y", NeedsApproval("r2", approvers=["bob", "carol"])
    )
    decision = (await p.evaluate(CTX, None)).decision
    assert decision == NeedsApproval("r1", "r2", approvers=["bob", "carol"])


@pytest.mark.parametrize(
    ("decisions", "expected"),
    [
        ([Deny("no"), Allow()], Allow()),
        ([Deny("no"), NeedsApproval("ask")], NeedsApproval("ask")),
        ([Deny("no"), Deny("never")], Deny("no", "never")),
    ],
)
async def test_any_of(decisions: list[Decision], expected: Decision) -> None:
    p = any_of(*(rule(str(i), d) for i, d in enumerate(decisions)))
    assert (await p.evaluate(CTX, None)).decision == expected


async def test_async_rules_and_operator_or() -> None:
    # The async rule is the only one that allows: if it were not awaited, its answer would be
    # a coroutine, refused as no decision, and the composite would deny.
    @precondition
    async def later(ctx: RunContext[Any], args: Any) -> Decision:
        """Only later."""
        return Allow()

    p = later | rule("no", Deny("not now"))
    evaluation = await p.evaluate(CTX, None)
    assert evaluation.decision == Allow()
    assert evaluation.verdicts == (
        RuleVerdict("later", "allow"),
        RuleVerdict("no", "deny", ("not now",)),
    )
    assert p.rules() == ["one of: Only later.; or rule no"]


async def test_a_rule_that_answers_nothing_fails_closed() -> None:
    @precondition
    def forgetful(ctx: RunContext[Any], args: Any) -> Any:
        """Forgets to return."""

    decision = (await forgetful.evaluate(CTX, None)).decision
    assert isinstance(decision, Deny)
    assert "not a Decision" in decision.reasons[0]
