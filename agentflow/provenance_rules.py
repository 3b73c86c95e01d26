"""Preconditions over provenance: where a call's arguments came from decides whether it runs.

Two rules, both preconditions ([`Precondition`][agentflow.Precondition]) that compose with the
others:

- [`from_trusted_sources`][agentflow.from_trusted_sources] (strict): every part of each named
  argument must appear in the employee's words, the system prompt or a trusted tool's output. For
  the arguments that say *where money or data goes*: a recipient, an IBAN, the hotel to pay.
- [`not_from_untrusted`][agentflow.not_from_untrusted] (lenient, the default policy for
  side-effecting tools): no part of an argument may appear *only* in untrusted output. A value the
  model wrote itself passes; one copied from a review, an e-mail or a web page does not.

Either answers ``NeedsApproval`` (the default) or ``Deny`` when broken; its reason names the
argument and its source, so the model, the approver and the audit trail read the same thing.
An argument not named is not checked; naming none checks every argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from agentflow.binding import canonical_arguments
from agentflow.context import RunContext
from agentflow.preconditions import ALLOW, Decision, Deny, NeedsApproval, Precondition
from agentflow.provenance import ArgumentsProvenance, ValueProvenance
from agentflow.tools import Tool

Otherwise = Literal["approval", "deny"]
Approvers = Sequence[str] | Callable[[RunContext[Any]], Sequence[str]]
"""Who decides: names, or a function of the context (the requester's manager)."""


def from_trusted_sources(
    *arguments: str,
    otherwise: Otherwise = "approval",
    approvers: Approvers = (),
    name: str = "from_trusted_sources",
) -> Precondition:
    """Every part of each argument must come from the employee or a trusted source."""
    named = ", ".join(arguments) if arguments else "every argument"
    text = (
        f"{named} must come from the employee's own words, the system prompt or a trusted "
        f"tool's output"
    )
    return _rule(arguments, _not_trusted, otherwise, approvers, name=name, text=text)


def not_from_untrusted(
    *arguments: str,
    otherwise: Otherwise = "approval",
    approvers: Approvers = (),
    name: str = "not_from_untrusted",
) -> Precondition:
    """No part of an argument may come only from an untrusted tool's output."""
    subject = f"{', '.join(arguments)} may" if arguments else "no argument may"
    text = f"{subject} come only from untrusted tool output (reviews, e-mails, web pages)"
    return _rule(arguments, _untrusted, otherwise, approvers, name=name, text=text)


def _not_trusted(value: ValueProvenance) -> str | None:
    if value.trusted:
        return None
    return f"{value.sentence()}; it must come from the employee or a trusted source"


def _untrusted(value: ValueProvenance) -> str | None:
    return value.sentence() if value.untrusted_only else None


def _rule(
    arguments: tuple[str, ...],
    broken: Callable[[ValueProvenance], str | None],
    otherwise: Otherwise,
    approvers: Approvers,
    *,
    name: str,
    text: str,
) -> Precondition:
    def check(ctx: RunContext[Any], args: Any) -> Decision:
        traced = ctx.provenance.arguments(canonical_arguments(args))
        reasons = [r for v in _selected(traced, arguments) if (r := broken(v)) is not None]
        if not reasons:
            return ALLOW
        if otherwise == "deny":
            return Deny(*reasons)
        chosen = approvers(ctx) if callable(approvers) else approvers
        return NeedsApproval(*reasons, approvers=chosen)

    return ProvenanceRule(check, name=name, text=text)


class ProvenanceRule(Precondition):
    """A rule over where arguments came from: a tool with one keeps it over an agent's default."""


def with_default_rule(tool: Tool[Any], policy: Precondition) -> Tool[Any]:
    """``tool`` guarded by ``policy`` too when it has side effects and no provenance rule."""
    if not tool.side_effects or _has_provenance_rule(tool.requires):
        return tool
    return tool.requiring(policy)


def _has_provenance_rule(rule: Precondition | None) -> bool:
    if rule is None:
        return False
    parts: tuple[Precondition, ...] = getattr(rule, "parts", ())
    return isinstance(rule, ProvenanceRule) or any(_has_provenance_rule(p) for p in parts)


def _selected(
    traced: ArgumentsProvenance, arguments: tuple[str, ...]
) -> tuple[ValueProvenance, ...]:
    if not arguments:
        return tuple(traced.values())
    return tuple(v for argument in arguments for v in traced.argument(argument))
