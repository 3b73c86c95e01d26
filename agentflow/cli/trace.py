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
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from agentflow.audit import attributes as attrs
from agentflow.audit.tree import SpanNode, by_trace, conversation_json, span_trees, steps_only
from agentflow.audit.view import VERDICT_MARKS, Field, approval, details, shorten
from agentflow.exceptions import ConfigurationError

if TYPE_CHECKING:
    from agentflow.audit.store import AuditStore, Verification

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="The audit store (SQLAlchemy URL); default: found as the workers find it, "
        "DATABASE_URL or sqlite:///.agentflow/audit.db.",
        show_default=False,
    ),
]

_MARK_COLOURS = {"✓": "green", "✗": "red", "?": "yellow"}
_TEXT_LIMIT = 120


def trace(
    conversation_id: Annotated[str, typer.Argument(help="The conversation (workflow) id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a tree.")] = False,
    raw: Annotated[bool, typer.Option(help="Show Temporal's own spans too.")] = False,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Show CONVERSATION_ID's audit trail: steps, durations, tokens, decisions, approvals."""
    from agentflow.audit.checkpoints import VerifyKeys

    store = open_store(database_url)
    try:
        stored = store.conversation(conversation_id)
        # From the last checkpoint: the cost does not grow with the store.
        chain = store.verify_view(stored, keys=VerifyKeys.from_env()) if stored else None
    except ConfigurationError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=1) from None
    finally:
        store.dispose()
    records = [s.record for s in stored]
    console = Console()
    if chain is None:
        Console(stderr=True).print(
            f"[bold red]error:[/] no spans recorded for conversation {escape(conversation_id)}"
        )
        raise typer.Exit(code=1)
    if as_json:
        body = conversation_json(conversation_id, records, raw=raw)
        body["chain"] = {
            "ok": chain.ok,
            "checkpoint": chain.checkpoint,
            "checked": chain.checked,
            "problems": [p.message for p in chain.problems],
        }
        print(json.dumps(body, indent=2))
    else:
        roots = span_trees(records)
        for trace_id, trace_roots in by_trace(roots if raw else steps_only(roots)).items():
            console.print(render(trace_id, trace_roots))
        _print_chain(chain)
    if not chain.ok:
        raise typer.Exit(code=1)


def _print_chain(chain: Verification) -> None:
    since = (
        f"from the checkpoint at record {chain.checkpoint}"
        if chain.checkpoint is not None
        else "from the first record (no checkpoint yet)"
    )
    if chain.ok:
        Console().print(f"[green]✓[/] chain verified {since} ({chain.checked} records checked)")
        return
    console = Console(stderr=True)
    console.print(f"[bold red]✗ the chain does not vouch for this trail[/] (verified {since}):")
    for problem in chain.problems:
        console.print(f"  [red]{problem.kind}:[/] {escape(problem.message)}")


def open_store(database_url: str | None) -> AuditStore:
    """The audit store as every command finds it, opened without creating anything.

    No store there (no file, no table) or no answer from the database: one line, exit 1.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from agentflow.audit.setup import audit_database_url
    from agentflow.audit.store import AuditStore

    url = audit_database_url(database_url)
    try:
        return AuditStore.existing(url)
    except ConfigurationError as exc:
        message = str(exc)
    except SQLAlchemyError as exc:
        where = make_url(url).render_as_string(hide_password=True)
        message = f"cannot read the audit store at {where}: {exc.__class__.__name__}"
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=1)


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
        label += f"  [red]error{': ' + escape(shorten(message, _TEXT_LIMIT)) if message else ''}[/]"
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
        shown = (
            f'"{escape(shorten(str(text), _TEXT_LIMIT))}"'
            if text is not None
            else "[dim](content off)[/]"
        )
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
        return f"precondition → {_mark(VERDICT_MARKS.get(decision, ''))} {decision}" + (
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
        if voter is None:  # nobody the request names: the channel's own identity is all there is
            voter = f"{a.get(attrs.VOTE_CHANNEL_USER, '?')} (not an approver of this request)"
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
    v = approval(a)
    event, digest = v.event, (v.digest or "")[:12]
    if v.outcome is not None:
        colour = "green" if v.outcome == "approved" else "red"
        by = f" by [bold]{escape(v.decided_by)}[/]" if v.decided_by else ""
        if v.on_behalf_of:
            by += f" (for {escape(v.on_behalf_of)}, on leave)"
        why = f": {escape(v.reason)}" if v.reason else ""
        return f"[yellow]approval {event}[/] → [{colour}]{v.outcome}[/]{by}{why} [dim]{digest}[/]"
    source = f" for {escape(v.requester)}" if v.requester else ""
    return f"[yellow]approval {event}[/]{source} → {escape(v.approvers)} [dim]{digest}[/]"


def _details(node: SpanNode) -> list[str]:
    """Leaf lines under a step: what went in, what came out, why."""
    lines: list[str] = []
    for line in details(node, limit=_TEXT_LIMIT):
        if isinstance(line, Field):
            lines.append(f"[dim]{line.label}:[/] {escape(line.text)}")
        else:
            reasons = f" — {escape(line.reasons)}" if line.reasons else ""
            lines.append(
                f"{_mark(line.mark())} rule [bold]{escape(str(line.name))}[/]: "
                f"{line.verdict}{reasons}"
            )
    return lines


def _mark(mark: str) -> str:
    colour = _MARK_COLOURS.get(mark)
    return f"[{colour}]{mark}[/]" if colour else mark


def _tokens(a: dict[str, Any]) -> str:
    if attrs.INPUT_TOKENS not in a:
        return ""
    cached = int(a.get(attrs.CACHE_READ_TOKENS, 0)) + int(a.get(attrs.CACHE_CREATION_TOKENS, 0))
    cache = f" ({cached} cached)" if cached else ""
    return f" · {a[attrs.INPUT_TOKENS]} in{cache} / {a.get(attrs.OUTPUT_TOKENS, 0)} out tokens"


def _duration(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.2f} s"
    return f"{ns / 1e6:.1f} ms"
