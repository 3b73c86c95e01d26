"""What the trace viewers show of a step, as plain text, before any markup.

``agentflow trace`` (terminal) and the web timeline (HTML) draw the same span trees. Which
lines a step gets, in which order and with which values is decided here, once; each viewer only
adds its markup and escaping, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentflow.audit import attributes as attrs

if TYPE_CHECKING:
    from agentflow.audit.tree import SpanNode

VERDICT_MARKS = {"allow": "✓", "deny": "✗", "needs_approval": "?"}
"""The mark before a precondition verdict; other verdicts get the caller's default."""


@dataclass(frozen=True)
class Field:
    """A labelled line under a step: ``arguments``, ``result``, ``reason`` or ``answer``."""

    label: str
    text: str
    data: bool
    """The tool's own data (arguments, result) rather than prose, which viewers set as code."""


@dataclass(frozen=True)
class RuleLine:
    """One precondition rule's verdict, recorded as a span event."""

    name: str | None
    """``None`` when the event names no rule."""
    verdict: str
    reasons: str
    """The rule's reasons joined with ``; ``, empty when it gave none."""

    def mark(self, default: str = "·") -> str:
        return VERDICT_MARKS.get(self.verdict, default)


@dataclass(frozen=True, kw_only=True)
class Approval:
    """An approval step: a request (or reminder, escalation) or, with an outcome, a decision."""

    event: str
    digest: str | None
    """The full digest of the call approved, ``None`` when not recorded."""
    outcome: str | None
    decided_by: str | None
    """Who decided: the person who voted, else the approver it was decided for."""
    on_behalf_of: str | None
    """The approver a delegate decided for (they were on leave), when that is someone else."""
    reason: str | None
    approvers: str
    """Who may decide, joined with ``, ``, or ``anyone authorised``."""
    requester: str | None


def details(node: SpanNode, *, limit: int) -> list[Field | RuleLine]:
    """The lines under a step, in order: what went in, what came out, and why."""
    a = node.attributes
    lines: list[Field | RuleLine] = []
    # An approval's arguments and reasons are shown once, where it was requested.
    requested = node.step != "approval" or a.get(attrs.APPROVAL_EVENT) == "requested"
    for key, label in (
        (attrs.TOOL_ARGUMENTS, "arguments"),
        (attrs.TOOL_RESULT, "result"),
        (attrs.APPROVAL_ARGUMENTS, "arguments"),
    ):
        if key in a and requested:
            lines.append(Field(label, shorten(str(a[key]), limit), data=True))
    for key in (attrs.TOOL_REASONS, attrs.APPROVAL_REASONS):
        for reason in a.get(key, ()) if requested else ():
            lines.append(Field("reason", str(reason), data=False))
    if node.step == "chat" and attrs.OUTPUT_MESSAGES in a:
        answer = shorten(answer_text(str(a[attrs.OUTPUT_MESSAGES])), limit)
        lines.append(Field("answer", answer, data=False))
    for event in node.record.events:
        if event.get("name") != attrs.RULE_EVENT:
            continue
        rule: dict[str, Any] = event.get("attributes", {})
        lines.append(
            RuleLine(
                name=str(rule[attrs.RULE_NAME]) if attrs.RULE_NAME in rule else None,
                verdict=str(rule.get(attrs.RULE_VERDICT, "?")),
                reasons="; ".join(map(str, rule.get(attrs.RULE_REASONS, ()))),
            )
        )
    return lines


def approval(a: dict[str, Any]) -> Approval:
    """An approval span's attributes, as its label shows them."""
    approver, person = a.get(attrs.APPROVAL_APPROVER), a.get(attrs.APPROVAL_DECIDED_BY)
    requester = a.get(attrs.APPROVAL_REQUESTER)
    return Approval(
        event=str(a.get(attrs.APPROVAL_EVENT, "?")),
        digest=str(a[attrs.APPROVAL_DIGEST]) if attrs.APPROVAL_DIGEST in a else None,
        outcome=str(a[attrs.APPROVAL_OUTCOME]) if attrs.APPROVAL_OUTCOME in a else None,
        decided_by=str(person or approver) if person or approver else None,
        on_behalf_of=str(approver) if person and approver and person != approver else None,
        reason=(
            str(a[attrs.APPROVAL_DECISION_REASON])
            if a.get(attrs.APPROVAL_DECISION_REASON)
            else None
        ),
        approvers=", ".join(map(str, a.get(attrs.APPROVAL_APPROVERS, ()))) or "anyone authorised",
        requester=str(requester) if requester else None,
    )


def answer_text(output: str) -> str:
    """The text and tool calls of a model answer, from ``gen_ai.output.messages``."""
    try:
        messages: list[dict[str, Any]] = json.loads(output)
    except ValueError:
        return output
    parts: list[str] = []
    for message in messages:
        for part in message.get("parts", []):
            if part.get("type") == "text":
                parts.append(str(part.get("content", "")))
            elif part.get("type") == "tool_call":
                parts.append(f"{part.get('name')}({json.dumps(part.get('arguments'))})")
    return " · ".join(parts)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
