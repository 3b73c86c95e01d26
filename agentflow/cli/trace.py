"""``agentflow trace CONVERSATION_ID``: a conversation's audit trail as a tree in the terminal.

The tree shows the steps an auditor asks about — the user's messages, each model call with its
tokens and stop reason, each tool call with its arguments, outcome and precondition verdicts
rule by rule, each approval from request to decision, every vote with who cast it — in the
order they happened, with durations. Temporal's own spans are hidden (``--raw`` shows them);
``--json`` prints the same trees for machines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from agentflow.audit import attributes as attrs
from agentflow.audit.tree import SpanNode, by_trace, conversation_json, span_trees, steps_only

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        help="The audit store (SQLAlchemy URL); default sqlite:///.agentflow/audit.db.",
        show_default=False,
    ),
]

_VERDICT_MARKS = {"allow": "[green]✓[/]", "deny": "[red]✗[/]", "needs_approval": "[yellow]?[/]"}
_TEXT_LIMIT = 120


def trace(
    conversation_id: Annotated[str, typer.Argument(help="The conversation (workflow) id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a tree.")] = False,
    raw: Annotated[bool, typer.Option(help="Show Temporal's own spans too.")] = False,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Show CONVERSATION_ID's audit trail: steps, durations, tokens, decisions, approvals."""
    from agentflow.audit.setup import DEFAULT_DATABASE_URL
    from agentflow.audit.store import AuditStore

    store = AuditStore(database_url or DEFAULT_DATABASE_URL)
    try:
        records = [stored.record for stored in store.conversation(conversation_id)]
    finally:
        store.dispose()
    console = Console()
    if not records:
        Console(stderr=True).print(
            f"[bold red]error:[/] no spans recorded for conversation {escape(conversation_id)}"
        )
        raise typer.Exit(code=1)
    if as_json:
        print(json.dumps(conversation_json(conversation_id, records, raw=raw), indent=2))
        return
    roots = span_trees(records)
    for trace_id, trace_roots in by_trace(roots if raw else steps_only(roots)).items():
        console.print(render(trace_id, trace_roots))


def render(trace_id: str, roots: Sequence[SpanNode]) -> Tree:
    """One trace as a rich tree."""
    spans = sum(1 for root in roots for _ in root.walk())
    tree = Tree(Text.from_markup(f"[bold]trace {trace_id}[/] [dim]· {spans} spans[/]"))
    for root in roots:
        _add(tree, root)
    return tree


def _add(parent: Tree, node: SpanNode) -> None:
    start, end = node.extent()
    label = f"{_label(node)}  [dim]{_duration(end - start)}[/]"
    if node.record.status == "error":
        message = node.record.status_message
        label += f"  [red]error{': ' + escape(_short(message)) if message else ''}[/]"
    branch = parent.add(Text.from_markup(label))
    for line in _details(node):
        branch.add(Text.from_markup(line))
    for child in node.children:
        _add(branch, child)


def _label(node: SpanNode) -> str:
    a = node.attributes
    step = node.step
    if step in ("conversation", "run"):
        who = f" · user {escape(str(a[attrs.USER]))}" if attrs.USER in a else ""
        status = f" · {a[attrs.RUN_STATUS]}" if attrs.RUN_STATUS in a else ""
        return (
            f"[bold]{step} {escape(str(a.get(attrs.CONVERSATION_ID, '?')))}[/]"
            f" · agent {escape(str(a.get(attrs.AGENT_NAME, '?')))}{who}{status}"
            f"{_tokens(a) if step == 'run' else ''}"
        )
    if step == "user_message":
        reply = f" → {a[attrs.REPLY_STATUS]}" if attrs.REPLY_STATUS in a else ""
        text = a.get(attrs.USER_MESSAGE)
        shown = f'"{escape(_short(str(text)))}"' if text is not None else "[dim](content off)[/]"
        return f"[cyan]user[/] {shown}{reply}"
    if step == "chat":
        reasons = ", ".join(a.get(attrs.FINISH_REASONS, ())) or "no answer"
        return (
            f"[magenta]chat[/] {escape(str(a.get(attrs.REQUEST_MODEL, '?')))}"
            f" ({escape(str(a.get(attrs.PROVIDER, '?')))}){_tokens(a)} · {reasons}"
        )
    if step == "tool":
        outcome = str(a.get(attrs.TOOL_OUTCOME, "?"))
        colour = {"returned": "green", "denied": "red", "failed": "red"}.get(outcome, "yellow")
        return (
            f"[blue]tool[/] {escape(str(a.get(attrs.TOOL_NAME)))} "
            f"[dim]{escape(str(a.get(attrs.TOOL_CALL_ID, '')))}[/] → [{colour}]{outcome}[/]"
        )
    if step == "precondition":
        decision = str(a.get(attrs.DECISION, "?"))
        by = a.get(attrs.APPROVED_BY)
        return f"precondition → {_VERDICT_MARKS.get(decision, '')} {decision}" + (
            f" (approved by {escape(str(by))})" if by else ""
        )
    if step == "approval":
        return _approval_label(a)
    if step == "vote":
        choice = "approve" if a.get(attrs.VOTE_APPROVE) else "deny"
        result = str(a.get(attrs.VOTE_RESULT, "?"))
        colour = "green" if result == "accepted" else "red"
        why = f": {escape(str(a[attrs.VOTE_REJECTION]))}" if attrs.VOTE_REJECTION in a else ""
        voter = a.get(attrs.APPROVAL_APPROVER)
        if voter is None:  # not in the org chart: the channel's own identity is all there is
            voter = f"{a.get(attrs.VOTE_CHANNEL_USER, '?')} (not in the org chart)"
        via = f" (via {escape(str(a[attrs.VOTE_CHANNEL]))})" if attrs.VOTE_CHANNEL in a else ""
        return (
            f"[yellow]vote[/] by [bold]{escape(str(voter))}[/]: "
            f"{choice} → [{colour}]{result}{why}[/]{via}"
        )
    if node.name.startswith("StartChildWorkflow:"):
        ids = {n.attributes.get(attrs.APPROVAL_ID) for n in node.walk()} - {None}
        name = node.name.split(":", 1)[1]
        return f"[bold]{escape(name)}[/] {escape(', '.join(sorted(map(str, ids))))}"
    return escape(node.name)


def _approval_label(a: dict[str, Any]) -> str:
    event = str(a.get(attrs.APPROVAL_EVENT, "?"))
    digest = str(a.get(attrs.APPROVAL_DIGEST, ""))[:12]
    if attrs.APPROVAL_OUTCOME in a:
        outcome = str(a[attrs.APPROVAL_OUTCOME])
        colour = "green" if outcome == "approved" else "red"
        approver, person = a.get(attrs.APPROVAL_APPROVER), a.get(attrs.APPROVAL_DECIDED_BY)
        by = f" by [bold]{escape(str(person or approver))}[/]" if person or approver else ""
        if person and approver and person != approver:
            by += f" (for {escape(str(approver))}, on leave)"
        why = (
            f": {escape(str(a[attrs.APPROVAL_DECISION_REASON]))}"
            if a.get(attrs.APPROVAL_DECISION_REASON)
            else ""
        )
        return f"[yellow]approval {event}[/] → [{colour}]{outcome}[/]{by}{why} [dim]{digest}[/]"
    approvers = ", ".join(map(str, a.get(attrs.APPROVAL_APPROVERS, ()))) or "anyone authorised"
    requester = a.get(attrs.APPROVAL_REQUESTER)
    source = f" for {escape(str(requester))}" if requester else ""
    return f"[yellow]approval {event}[/]{source} → {escape(approvers)} [dim]{digest}[/]"


def _details(node: SpanNode) -> list[str]:
    """Leaf lines under a step: what went in, what came out, why."""
    a = node.attributes
    lines: list[str] = []
    # An approval's arguments and reasons are shown once, where it was requested.
    requested = node.step != "approval" or a.get(attrs.APPROVAL_EVENT) == "requested"
    for key, label in (
        (attrs.TOOL_ARGUMENTS, "arguments"),
        (attrs.TOOL_RESULT, "result"),
        (attrs.APPROVAL_ARGUMENTS, "arguments"),
    ):
        if key in a and requested:
            lines.append(f"[dim]{label}:[/] {escape(_short(str(a[key])))}")
    for key in (attrs.TOOL_REASONS, attrs.APPROVAL_REASONS):
        for reason in a.get(key, ()) if requested else ():
            lines.append(f"[dim]reason:[/] {escape(str(reason))}")
    if node.step == "chat" and attrs.OUTPUT_MESSAGES in a:
        lines.append(f"[dim]answer:[/] {escape(_short(_answer(str(a[attrs.OUTPUT_MESSAGES]))))}")
    for event in node.record.events:
        if event.get("name") != attrs.RULE_EVENT:
            continue
        rule: dict[str, Any] = event.get("attributes", {})
        verdict = str(rule.get(attrs.RULE_VERDICT, "?"))
        reasons = "; ".join(map(str, rule.get(attrs.RULE_REASONS, ())))
        name = escape(str(rule.get(attrs.RULE_NAME)))
        lines.append(
            f"{_VERDICT_MARKS.get(verdict, '·')} rule [bold]{name}[/]: {verdict}"
            f"{' — ' + escape(reasons) if reasons else ''}"
        )
    return lines


def _answer(output: str) -> str:
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


def _tokens(a: dict[str, Any]) -> str:
    if attrs.INPUT_TOKENS not in a:
        return ""
    cached = int(a.get(attrs.CACHE_READ_TOKENS, 0)) + int(a.get(attrs.CACHE_CREATION_TOKENS, 0))
    cache = f" (+{cached} cache)" if cached else ""
    return f" · {a[attrs.INPUT_TOKENS]} in{cache} / {a.get(attrs.OUTPUT_TOKENS, 0)} out tokens"


def _duration(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.2f} s"
    return f"{ns / 1e6:.1f} ms"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"
