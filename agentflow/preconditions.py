"""Preconditions: code that decides whether a tool call may run, before it runs.

A precondition sees the validated arguments and the [`RunContext`][agentflow.RunContext] and answers
[`Allow`][agentflow.Allow], [`Deny`][agentflow.Deny] or [`NeedsApproval`][agentflow.NeedsApproval].
They compose with [`all_of`][agentflow.all_of] / [`any_of`][agentflow.any_of] (or ``&`` / ``|``); a
composite evaluates every rule and reports every broken one together, with the rule's text, so the
model and the audit trail see the same reasons.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, overload

from typing_extensions import TypeVar

from agentflow.binding import ApprovalStage, approval_plan
from agentflow.context import RunContext


@dataclass(frozen=True, slots=True)
class Allow:
    """The call may run."""


@dataclass(frozen=True, init=False, slots=True)
class Deny:
    """The call must not run; ``reasons`` go back to the model as the tool's error result."""

    reasons: tuple[str, ...]

    def __init__(self, *reasons: str) -> None:
        object.__setattr__(self, "reasons", reasons or ("denied",))


@dataclass(frozen=True, init=False, slots=True)
class NeedsApproval:
    """The call may run only once authorised humans approve exactly these arguments.

    ``approvers`` is a one-stage escalation chain (the first decides, the next is where the
    request escalates); ``stages`` asks for ordered stages instead, each with its approvers and
    how many of them must approve. ``editable`` names the arguments an approver may change
    before approving: the edited call is validated and evaluated again by the same rules, so an
    edit can never reach what this rule set denies.
    """

    reasons: tuple[str, ...]
    approvers: tuple[str, ...]
    stages: tuple[ApprovalStage, ...]
    editable: tuple[str, ...]

    def __init__(
        self,
        *reasons: str,
        approvers: Sequence[str] = (),
        stages: Sequence[ApprovalStage] = (),
        editable: Sequence[str] = (),
    ) -> None:
        stages = tuple(stages)
        if stages and not approvers:
            approvers = [a for stage in stages for a in stage.eligible()]
        object.__setattr__(self, "reasons", reasons or ("approval required",))
        object.__setattr__(self, "approvers", tuple(dict.fromkeys(approvers)))
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "editable", tuple(editable))

    def plan(self) -> tuple[ApprovalStage, ...]:
        """The stages to collect, in order: ``stages``, or the one-stage chain."""
        return approval_plan(self.approvers, self.stages)


Decision = Allow | Deny | NeedsApproval
"""What a precondition answers: run the call, refuse it with a reason, or ask a person first."""
ALLOW = Allow()

ArgsT = TypeVar("ArgsT", contravariant=True, default=Any)
"""The arguments a rule reads: a tool's pydantic model (``Any`` for a rule that reads any)."""

CheckFunction = Callable[[RunContext[Any], ArgsT], "Decision | Awaitable[Decision]"]
"""``(ctx, args) -> Decision``, sync or async; ``args`` is the tool's validated pydantic model."""


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One rule's answer, as recorded in the audit trail."""

    rule: str
    verdict: Literal["allow", "deny", "needs_approval"]
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Evaluation:
    decision: Decision
    verdicts: tuple[RuleVerdict, ...]


def refusal(decision: object) -> tuple[str, ...]:
    """Why ``decision`` lets nothing run: a denial's reasons, or what stood in for a decision.

    Whatever branches on a decision runs a tool on [`Allow`][agentflow.Allow] only and refuses
    anything else with these reasons, so a rule or a composite that answers something unexpected
    fails closed.
    """
    if isinstance(decision, Deny):
        return decision.reasons
    if isinstance(decision, NeedsApproval):
        return ("the call still needs approval",)
    return (f"the preconditions answered {decision!r}, which is not a decision",)


def _verdict(rule: str, decision: object) -> RuleVerdict:
    match decision:
        case Allow():
            return RuleVerdict(rule, "allow")
        case NeedsApproval(reasons=reasons):
            return RuleVerdict(rule, "needs_approval", reasons)
        case _:
            return RuleVerdict(rule, "deny", refusal(decision))


class Precondition(Generic[ArgsT]):
    """A named rule. Build one with `precondition`, combine with ``&`` and ``|``.

    ``Precondition[BookingRequest]`` reads a tool's arguments as that model: a rule written
    for one model cannot guard a tool that takes another, and a type checker sees a field the
    model does not have. ``Precondition`` alone reads any arguments.
    """

    def __init__(self, check: CheckFunction[ArgsT], *, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self._check = check
        self._is_async = inspect.iscoroutinefunction(check)

    def rules(self) -> list[str]:
        """The rule texts, as listed in the tool description the model reads."""
        return [self.text]

    async def evaluate(self, ctx: RunContext[Any], args: ArgsT) -> Evaluation:
        if self._is_async:
            decision = await self._check(ctx, args)  # type: ignore[misc]  # checked above
        else:
            decision = self._check(ctx, args)
        if not isinstance(decision, Allow | Deny | NeedsApproval):
            # Fail closed: a rule that forgets to answer must not let the call through.
            decision = Deny(f"precondition {self.name!r} returned {decision!r}, not a Decision")
        return Evaluation(decision, (_verdict(self.name, decision),))

    def __and__(self, other: Precondition[ArgsT]) -> Precondition[ArgsT]:
        return all_of(self, other)

    def __or__(self, other: Precondition[ArgsT]) -> Precondition[ArgsT]:
        return any_of(self, other)

    def __repr__(self) -> str:
        return f"<Precondition {self.name}>"


class _AllOf(Precondition[ArgsT]):
    def __init__(self, parts: Sequence[Precondition[ArgsT]]) -> None:
        self.parts = tuple(parts)
        super().__init__(_never, name=" & ".join(p.name for p in parts), text="")

    def rules(self) -> list[str]:
        return [rule for part in self.parts for rule in part.rules()]

    async def evaluate(self, ctx: RunContext[Any], args: ArgsT) -> Evaluation:
        results = [await part.evaluate(ctx, args) for part in self.parts]
        verdicts = tuple(v for r in results for v in r.verdicts)
        decisions: list[object] = [r.decision for r in results]
        # Anything that is neither Allow nor NeedsApproval refuses, a malformed answer included.
        denied = [d for d in decisions if not isinstance(d, Allow | NeedsApproval)]
        if denied:
            return Evaluation(Deny(*(reason for d in denied for reason in refusal(d))), verdicts)
        pending = [d for d in decisions if isinstance(d, NeedsApproval)]
        if pending:
            return Evaluation(_merge_approvals(pending), verdicts)
        return Evaluation(ALLOW, verdicts)


class _AnyOf(Precondition[ArgsT]):
    def __init__(self, parts: Sequence[Precondition[ArgsT]]) -> None:
        self.parts = tuple(parts)
        super().__init__(_never, name=" | ".join(p.name for p in parts), text="")

    def rules(self) -> list[str]:
        return ["one of: " + "; or ".join(" and ".join(p.rules()) for p in self.parts)]

    async def evaluate(self, ctx: RunContext[Any], args: ArgsT) -> Evaluation:
        results = [await part.evaluate(ctx, args) for part in self.parts]
        verdicts = tuple(v for r in results for v in r.verdicts)
        decisions = [r.decision for r in results]
        if any(isinstance(d, Allow) for d in decisions):
            return Evaluation(ALLOW, verdicts)
        pending = [d for d in decisions if isinstance(d, NeedsApproval)]
        if pending:
            return Evaluation(_merge_approvals(pending), verdicts)
        reasons = [r for d in decisions for r in refusal(d)]
        return Evaluation(Deny(*reasons), verdicts)


def _never(ctx: RunContext[Any], args: Any) -> Decision:  # composites override evaluate()
    return Deny("composite precondition evaluated as a leaf")


def _merge_approvals(pending: Sequence[NeedsApproval]) -> NeedsApproval:
    """Several rules ask for approval: every one's stages apply, every one's limits on edits.

    Chains alone are merged into one chain (as before stages existed); as soon as one rule asks
    for stages, each rule's plan becomes stages of the merged request, in rule order. An
    argument is editable only if every rule lets the approver edit it.
    """
    reasons = tuple(dict.fromkeys(r for p in pending for r in p.reasons))
    approvers = tuple(dict.fromkeys(a for p in pending for a in p.approvers))
    editable = [e for e in pending[0].editable if all(e in p.editable for p in pending[1:])]
    if not any(p.stages for p in pending):
        return NeedsApproval(*reasons, approvers=approvers, editable=editable)
    stages = tuple(dict.fromkeys(stage for p in pending for stage in p.plan()))
    return NeedsApproval(*reasons, approvers=approvers, stages=stages, editable=editable)


def all_of(*parts: Precondition[ArgsT]) -> Precondition[ArgsT]:
    """Every rule must allow. Denials win over approvals; all broken rules are reported."""
    return _AllOf(parts)


def any_of(*parts: Precondition[ArgsT]) -> Precondition[ArgsT]:
    """One allowing rule suffices; otherwise an approval, otherwise every denial."""
    return _AnyOf(parts)


@overload
def precondition(
    # The second member types a lambda's ``args`` as ``Any``, not as ``object``.
    check: CheckFunction[ArgsT] | CheckFunction[Any],
    /,
    *,
    name: str | None = None,
    text: str | None = None,
) -> Precondition[ArgsT]: ...
@overload
def precondition(
    *, name: str | None = None, text: str | None = None
) -> Callable[[CheckFunction[ArgsT]], Precondition[ArgsT]]: ...
def precondition(
    check: CheckFunction[ArgsT] | None = None,
    /,
    *,
    name: str | None = None,
    text: str | None = None,
) -> Precondition[ArgsT] | Callable[[CheckFunction[ArgsT]], Precondition[ArgsT]]:
    """Turn ``(ctx, args) -> Decision`` into a [`Precondition`][agentflow.Precondition].

    ``text`` is the rule as the model reads it in the tool description; it defaults to the
    first paragraph of the function's docstring. The annotation of ``args`` types the rule:
    ``args: BookingRequest`` makes a ``Precondition[BookingRequest]``, which only a tool taking
    a ``BookingRequest`` accepts (see [`Tool.from_model`][agentflow.Tool.from_model]).

    Usage: ``@precondition`` or ``@precondition(text="...")``.
    """

    def build(fn: CheckFunction[ArgsT]) -> Precondition[ArgsT]:
        doc = inspect.getdoc(fn) or ""
        rule_text = text or doc.split("\n\n", 1)[0].replace("\n", " ").strip()
        rule_name = name or getattr(fn, "__name__", "precondition")
        return Precondition(fn, name=rule_name, text=rule_text or rule_name)

    return build if check is None else build(check)
