"""``/conversations/{id}/timeline``: a conversation's audit trail in the browser.

The same steps ``agentflow trace`` draws — user messages, model calls with tokens, tool calls
with their (redacted) arguments and results, precondition decisions rule by rule, approvals from
request to decision and every vote — rendered as plain HTML (no script, nothing fetched from
elsewhere), or as JSON with ``?format=json``. The page also says whether the audit store's hash
chain vouches for what it shows: "chain verified", or "chain broken at record N", with the
altered steps marked.

Who may look. The trail holds what an employee asked for and what their manager decided, so the
viewer must be identified (the same :data:`~agentflow.web.inbox.Identify` as the inbox), be in
the org chart, and be one of:

- the conversation's user (``enduser.id`` of its root span);
- an approver of one of its approvals (named in a request, reminder or escalation, the approver
  a decision was made for, or the person whose vote was accepted, e.g. a delegate);
- an auditor: a handle in ``auditors`` (``AGENTFLOW_AUDITORS``), who may read every trail.

Anyone else gets 403 and nothing of the conversation, not even whether it exists.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from agentflow.approvals.links import TIMELINE_ROUTE as ROUTE
from agentflow.approvals.links import conversation_of, timeline_path, timeline_url
from agentflow.approvals.orgchart import OrgChart
from agentflow.audit import attributes as attrs
from agentflow.audit.tree import SpanNode, conversation_json, span_trees, steps_only
from agentflow.audit.view import VERDICT_MARKS, Field, approval, details, shorten
from agentflow.web.inbox import Identify, dev_identity

__all__ = ["ROUTE", "Timeline", "conversation_of", "timeline_path", "timeline_url"]

if TYPE_CHECKING:
    from agentflow.audit.store import AuditStore, StoredRecord, Verification

_TEXT_LIMIT = 400


@dataclass(frozen=True, kw_only=True)
class ChainStatus:
    """What the hash chain says about the whole store, and which shown steps it disowns."""

    ok: bool
    records: int
    broken_at: int | None
    """The first record the chain does not vouch for, ``None`` when verified."""
    problems: tuple[str, ...]
    disowned_spans: frozenset[str]
    """Span ids of this conversation's records named by a problem."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "broken_at": self.broken_at,
            "problems": list(self.problems),
        }


def chain_status(verification: Verification) -> ChainStatus:
    problems = verification.problems
    return ChainStatus(
        ok=verification.ok,
        records=verification.records,
        broken_at=min((p.seq for p in problems), default=None),
        problems=tuple(p.message for p in problems),
        disowned_spans=frozenset(p.span_id for p in problems if p.span_id),
    )


def participants(records: Iterable[StoredRecord]) -> set[str]:
    """Everyone a conversation's trail names as its user or as an approver of its approvals."""
    people: set[str] = set()
    for stored in records:
        a = stored.record.attributes
        if a.get(attrs.KIND) in ("conversation", "run") and isinstance(a.get(attrs.USER), str):
            people.add(a[attrs.USER])
        if a.get(attrs.KIND) == "approval":
            people.update(str(p) for p in a.get(attrs.APPROVAL_APPROVERS, ()))
            for key in (attrs.APPROVAL_APPROVER, attrs.APPROVAL_DECIDED_BY):
                if isinstance(a.get(key), str):
                    people.add(a[key])
        if a.get(attrs.KIND) == "vote" and a.get(attrs.VOTE_RESULT) == "accepted":
            people.add(str(a.get(attrs.APPROVAL_APPROVER)))
    return people


class Timeline:
    """The timeline endpoint: who may look, the trail, the chain's verdict."""

    def __init__(
        self,
        store: AuditStore,
        org: OrgChart,
        *,
        identify: Identify = dev_identity,
        auditors: Collection[str] = (),
    ) -> None:
        self.store = store
        self.org = org
        self.identify = identify
        self.auditors = frozenset(auditors)

    async def page(self, request: Request) -> Response:
        conversation_id = str(request.path_params["conversation_id"])
        as_json = request.query_params.get("format") == "json"
        viewer = self.identify(request)
        if viewer is None:
            return _refuse(as_json, 401, "Who are you? Open the timeline with your handle.")
        if await run_in_threadpool(self.org.employee, viewer) is None:
            return _refuse(as_json, 403, f"{viewer!r} is not in the org chart.")
        stored = await run_in_threadpool(self.store.conversation, conversation_id)
        auditor = viewer in self.auditors
        if not auditor and viewer not in participants(stored):
            # The same answer whether or not the conversation exists.
            return _refuse(as_json, 403, "This conversation is not yours to see.")
        if not stored:
            return _refuse(as_json, 404, "No steps are recorded for this conversation.")
        chain = chain_status(await run_in_threadpool(self.store.verify))
        records = [s.record for s in stored]
        if as_json:
            body = conversation_json(conversation_id, records)
            body["viewer"] = viewer
            body["chain"] = chain.to_dict()
            return JSONResponse(body)
        roots = steps_only(span_trees(records))
        return HTMLResponse(render_page(conversation_id, roots, chain, viewer=viewer))


# -- rendering -----------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Timeline {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 64rem; margin: 2rem auto; }}
ul {{ list-style: none; padding-left: 1.2rem; border-left: 1px solid #ddd; }}
li {{ margin: .3rem 0; }} .dur {{ color: #777; font-size: .85em; }}
.detail {{ color: #444; font-size: .9em; }} code {{ font-size: .85em; word-break: break-all; }}
.ok {{ background: #e6f4ea; padding: .5rem; }} .broken {{ background: #fce8e6; padding: .5rem; }}
.error, .disowned {{ color: #b00020; font-weight: bold; }}
</style></head><body>
<h1>Timeline <code>{title}</code></h1>
{subtitle}
{body}
</body></html>"""


def render_page(
    conversation_id: str, roots: list[SpanNode], chain: ChainStatus, *, viewer: str
) -> str:
    """The whole page; every value from the trail is HTML-escaped."""
    parts = [_chain_banner(chain)]
    by_trace: dict[str, list[SpanNode]] = {}
    for root in roots:
        by_trace.setdefault(root.record.trace_id, []).append(root)
    for trace_id, trace_roots in by_trace.items():
        spans = sum(1 for root in trace_roots for _ in root.walk())
        parts.append(f"<h2>trace <code>{escape(trace_id)}</code> · {spans} steps</h2>")
        parts.append(_list(trace_roots, chain))
    subtitle = f'<p class="dur">Shown to {escape(viewer)}.</p>'
    return PAGE.format(title=escape(conversation_id), subtitle=subtitle, body="\n".join(parts))


def _chain_banner(chain: ChainStatus) -> str:
    if chain.ok:
        return (
            f'<p class="ok" id="chain">Chain verified: all {chain.records} records of the audit '
            "store are intact and in order.</p>"
        )
    problems = "".join(f"<li>{escape(p)}</li>" for p in chain.problems)
    return (
        f'<p class="broken" id="chain">Chain broken at record {chain.broken_at}: the audit store '
        f"was tampered with; steps it no longer vouches for are marked.</p><ul>{problems}</ul>"
    )


def _list(nodes: list[SpanNode], chain: ChainStatus) -> str:
    return "<ul>" + "".join(_item(node, chain) for node in nodes) + "</ul>"


def _item(node: SpanNode, chain: ChainStatus) -> str:
    start, end = node.extent()
    html = f'{_label(node)} <span class="dur">{_duration(end - start)}</span>'
    if node.record.status == "error":
        message = node.record.status_message
        html += f' <span class="error">error{": " + escape(message) if message else ""}</span>'
    if node.record.span_id in chain.disowned_spans:
        html += ' <span class="disowned">⚠ not vouched for by the chain</span>'
    details = "".join(f'<li class="detail">{line}</li>' for line in _details(node))
    children = _list(node.children, chain) if node.children else ""
    inner = f"<ul>{details}</ul>" if details else ""
    return f'<li data-step="{escape(node.step or "")}">{html}{inner}{children}</li>'


def _label(node: SpanNode) -> str:
    a = node.attributes
    step = node.step
    if step in ("conversation", "run"):
        user = f" · user <b>{_e(a[attrs.USER])}</b>" if attrs.USER in a else ""
        return (
            f"<b>{step}</b> <code>{_e(a.get(attrs.CONVERSATION_ID, '?'))}</code> · agent "
            f"{_e(a.get(attrs.AGENT_NAME, '?'))}{user}{_tokens(a) if step == 'run' else ''}"
        )
    if step == "user_message":
        reply = f" → {_e(a[attrs.REPLY_STATUS])}" if attrs.REPLY_STATUS in a else ""
        text = a.get(attrs.USER_MESSAGE)
        shown = (
            f"“{_e(shorten(str(text), _TEXT_LIMIT))}”"
            if text is not None
            else "<i>(content off)</i>"
        )
        return f"<b>user</b> {shown}{reply}"
    if step == "chat":
        reasons = ", ".join(map(str, a.get(attrs.FINISH_REASONS, ()))) or "no answer"
        return (
            f"<b>model call</b> {_e(a.get(attrs.REQUEST_MODEL, '?'))} "
            f"({_e(a.get(attrs.PROVIDER, '?'))}){_tokens(a)} · {_e(reasons)}"
        )
    if step == "tool":
        return (
            f"<b>tool</b> {_e(a.get(attrs.TOOL_NAME, '?'))} "
            f"<code>{_e(a.get(attrs.TOOL_CALL_ID, ''))}</code> → "
            f"{_e(a.get(attrs.TOOL_OUTCOME, '?'))}"
        )
    if step == "precondition":
        decision = str(a.get(attrs.DECISION, "?"))
        by = a.get(attrs.APPROVED_BY)
        return f"<b>precondition</b> → {VERDICT_MARKS.get(decision, '')} {_e(decision)}" + (
            f" (approved by <b>{_e(by)}</b>)" if by else ""
        )
    if step == "approval":
        return _approval_label(a)
    if step == "vote" and a.get(attrs.VOTE_RESULT) == "refused":
        return _refused_vote_label(a)
    if step == "vote":
        choice = "approve" if a.get(attrs.VOTE_APPROVE) else "deny"
        why = f": {_e(a[attrs.VOTE_REJECTION])}" if attrs.VOTE_REJECTION in a else ""
        return (
            f"<b>vote</b> by <b>{_e(a.get(attrs.APPROVAL_APPROVER, '?'))}</b>: {choice} → "
            f"{_e(a.get(attrs.VOTE_RESULT, '?'))}{why}"
        )
    if node.name.startswith("StartChildWorkflow:"):
        ids = sorted(
            {
                str(n.attributes[attrs.APPROVAL_ID])
                for n in node.walk()
                if attrs.APPROVAL_ID in n.attributes
            }
        )
        return f"<b>{_e(node.name.split(':', 1)[1])}</b> <code>{_e(', '.join(ids))}</code>"
    return _e(node.name)


def _refused_vote_label(a: dict[str, Any]) -> str:
    """A decision the desk refused: who tried, what, through which channel, and why not."""
    person = a.get(attrs.APPROVAL_APPROVER)
    handle = a.get(attrs.VOTE_CHANNEL_USER)
    who = f"<b>{_e(person)}</b>" if person is not None else "someone not in the org chart"
    if handle is not None:
        who += f" (<code>{_e(handle)}</code>)"
    choice = "approve" if a.get(attrs.VOTE_APPROVE) else "deny"
    via = f" via {_e(a[attrs.VOTE_CHANNEL])}" if attrs.VOTE_CHANNEL in a else ""
    return (
        f"✗ <b>vote</b> by {who} refused — {_e(a.get(attrs.VOTE_REJECTION, '?'))} "
        f'<span class="dur">({choice}{via})</span>'
    )


def _approval_label(a: dict[str, Any]) -> str:
    v = approval(a)
    event = _e(v.event)
    digest = f" · digest <code>{_e(v.digest)}</code>" if v.digest is not None else ""
    if v.outcome is not None:
        by = f" by <b>{_e(v.decided_by)}</b>" if v.decided_by else ""
        if v.on_behalf_of:
            by += f" (for <b>{_e(v.on_behalf_of)}</b>, on leave)"
        why = f": {_e(v.reason)}" if v.reason else ""
        return f"<b>approval {event}</b> → {_e(v.outcome)}{by}{why}{digest}"
    requester = f" for <b>{_e(v.requester)}</b>" if v.requester else ""
    return f"<b>approval {event}</b>{requester} → {_e(v.approvers)}{digest}"


def _details(node: SpanNode) -> list[str]:
    """What went in, what came out, and why: the lines under a step."""
    lines: list[str] = []
    for line in details(node, limit=_TEXT_LIMIT):
        if isinstance(line, Field):
            text = f"<code>{_e(line.text)}</code>" if line.data else _e(line.text)
            lines.append(f"{line.label}: {text}")
        else:
            name = _e(line.name if line.name is not None else "?")
            reasons = f" — {_e(line.reasons)}" if line.reasons else ""
            lines.append(f"{line.mark()} rule <b>{name}</b>: {_e(line.verdict)}{reasons}")
    return lines


def _tokens(a: dict[str, Any]) -> str:
    if attrs.INPUT_TOKENS not in a:
        return ""
    cached = int(a.get(attrs.CACHE_READ_TOKENS, 0)) + int(a.get(attrs.CACHE_CREATION_TOKENS, 0))
    cache = f" (+{cached} cache)" if cached else ""
    return (
        f" · {_e(a[attrs.INPUT_TOKENS])} in{cache} / {_e(a.get(attrs.OUTPUT_TOKENS, 0))} out tokens"
    )


def _duration(ns: int) -> str:
    return f"{ns / 1e9:.2f} s" if ns >= 1_000_000_000 else f"{ns / 1e6:.1f} ms"


def _e(value: object) -> str:
    return escape(str(value))


def _refuse(as_json: bool, status: int, message: str) -> Response:
    if as_json:
        return JSONResponse({"error": message}, status_code=status)
    body = PAGE.format(title="", subtitle="", body=f"<p>{escape(message)}</p>")
    return HTMLResponse(body, status_code=status)
