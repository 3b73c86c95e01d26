"""``/conversations/{id}/timeline``: a conversation's audit trail in the browser.

The same steps ``agentflow trace`` draws — user messages, model calls with tokens, tool calls
with their (redacted) arguments and results, precondition decisions rule by rule, approvals from
request to decision and every vote — rendered as plain HTML by ``templates/timeline.html`` (no
script, nothing fetched from elsewhere), or as JSON with ``?format=json``. The page also says
whether the audit store's hash chain vouches for what it shows: "chain verified", or "chain
broken at record N", with the altered steps marked. It verifies from the last checkpoint (the
records since, and the conversation's own records with their links), so a view costs the same
at any store size; ``agentflow audit verify`` checks the whole chain.

Who may look. The trail holds what an employee asked for and what their manager decided, so the
viewer must be identified (the same `Identify` as the inbox), be in
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
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agentflow.approvals.directory import Directory
from agentflow.approvals.links import TIMELINE_ROUTE as ROUTE
from agentflow.approvals.links import conversation_of, timeline_path, timeline_url
from agentflow.audit import attributes as attrs
from agentflow.audit.checkpoints import VerifyKeys
from agentflow.audit.tree import SpanNode, conversation_json, span_trees, steps_only
from agentflow.audit.view import VERDICT_MARKS, Field, RuleLine, approval, details, shorten
from agentflow.web.identity import Identify, dev_identity
from agentflow.web.pages import render

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
    checkpoint: int | None = None
    """The checkpoint the view was verified from (``None``: from the first record)."""
    checked: int = 0
    """Records checked: those since the checkpoint, and the conversation's own."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "checkpoint": self.checkpoint,
            "checked": self.checked,
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
        checkpoint=verification.checkpoint,
        checked=verification.checked,
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
        org: Directory,
        *,
        identify: Identify = dev_identity,
        auditors: Collection[str] = (),
        keys: VerifyKeys | None = None,
    ) -> None:
        """``keys``: the checkpoints' public keys (default: ``AGENTFLOW_AUDIT_VERIFY_KEYS``)."""
        self.store = store
        self.keys = keys if keys is not None else VerifyKeys.from_env()
        self.org = org
        self.identify = identify
        self.auditors = frozenset(auditors)

    async def page(self, request: Request) -> Response:
        conversation_id = str(request.path_params["conversation_id"])
        as_json = request.query_params.get("format") == "json"
        viewer = self.identify(request)
        if viewer is None:
            return _refuse(
                request, as_json, 401, "Who are you? Open the timeline with your handle."
            )
        stored = await run_in_threadpool(self.store.conversation, conversation_id)
        auditor = viewer in self.auditors
        if not auditor and viewer not in participants(stored):
            # The same answer whether or not the conversation exists.
            return _refuse(request, as_json, 403, "This conversation is not yours to see.")
        if not stored:
            return _refuse(request, as_json, 404, "No steps are recorded for this conversation.")
        # From the last checkpoint: a view costs the same at any store size.
        verified = await run_in_threadpool(self.store.verify_view, stored, keys=self.keys)
        chain = chain_status(verified)
        records = [s.record for s in stored]
        if as_json:
            body = conversation_json(conversation_id, records)
            body["viewer"] = viewer
            body["chain"] = chain.to_dict()
            return JSONResponse(body)
        context = {
            "conversation_id": conversation_id,
            "problem": None,
            "viewer": viewer,
            "chain": chain,
            "traces": trace_views(steps_only(span_trees(records)), chain),
        }
        return render(request, "timeline.html", context)


# -- what the page shows ------------------------------------------------------------------
# Plain values for timeline.html, which adds every tag; each label is a dict with the ``kind``
# the template's ``label`` macro draws and the values it needs.

Label = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class StepView:
    """One step of the tree as ``timeline.html`` draws it."""

    step: str
    label: Label
    duration: str
    error: str | None
    """``None`` for a step that did not fail; else its status message (may be empty)."""
    disowned: bool
    """The hash chain no longer vouches for this step's record."""
    details: list[Label]
    children: list[StepView]


def trace_views(roots: list[SpanNode], chain: ChainStatus) -> list[dict[str, Any]]:
    """The step trees by trace, in order, each with how many steps it holds."""
    by_trace: dict[str, list[SpanNode]] = {}
    for root in roots:
        by_trace.setdefault(root.record.trace_id, []).append(root)
    return [
        {
            "trace_id": trace_id,
            "count": sum(1 for root in trace_roots for _ in root.walk()),
            "steps": [_step(root, chain) for root in trace_roots],
        }
        for trace_id, trace_roots in by_trace.items()
    ]


def _step(node: SpanNode, chain: ChainStatus) -> StepView:
    start, end = node.extent()
    failed = node.record.status == "error"
    return StepView(
        step=node.step or "",
        label=_label(node),
        duration=_duration(end - start),
        error=(node.record.status_message or "") if failed else None,
        disowned=node.record.span_id in chain.disowned_spans,
        details=[_detail(line) for line in details(node, limit=_TEXT_LIMIT)],
        children=[_step(child, chain) for child in node.children],
    )


def _label(node: SpanNode) -> Label:
    a = node.attributes
    step = node.step
    if step in ("conversation", "run"):
        return {
            "kind": step,
            "conversation": a.get(attrs.CONVERSATION_ID, "?"),
            "agent": a.get(attrs.AGENT_NAME, "?"),
            "user": a.get(attrs.USER),
            "tokens": _tokens(a) if step == "run" else None,
        }
    if step == "user_message":
        text = a.get(attrs.USER_MESSAGE)
        return {
            "kind": step,
            "text": shorten(str(text), _TEXT_LIMIT) if text is not None else None,
            "reply": a.get(attrs.REPLY_STATUS),
        }
    if step == "chat":
        return {
            "kind": step,
            "model": a.get(attrs.REQUEST_MODEL, "?"),
            "provider": a.get(attrs.PROVIDER, "?"),
            "tokens": _tokens(a),
            "reasons": ", ".join(map(str, a.get(attrs.FINISH_REASONS, ()))) or "no answer",
        }
    if step == "tool":
        return {
            "kind": step,
            "tool": a.get(attrs.TOOL_NAME, "?"),
            "call_id": a.get(attrs.TOOL_CALL_ID, ""),
            "outcome": a.get(attrs.TOOL_OUTCOME, "?"),
        }
    if step == "precondition":
        decision = str(a.get(attrs.DECISION, "?"))
        return {
            "kind": step,
            "mark": VERDICT_MARKS.get(decision, ""),
            "decision": decision,
            "approved_by": a.get(attrs.APPROVED_BY),
        }
    if step == "approval":
        view = approval(a)
        return {"kind": "request" if view.outcome is None else "decision", "approval": view}
    if step == "vote":
        refused = a.get(attrs.VOTE_RESULT) == "refused"
        return {
            "kind": "refused_vote" if refused else "vote",
            "approver": a.get(attrs.APPROVAL_APPROVER, None if refused else "?"),
            "handle": a.get(attrs.VOTE_CHANNEL_USER),
            "choice": "approve" if a.get(attrs.VOTE_APPROVE) else "deny",
            "channel": a.get(attrs.VOTE_CHANNEL),
            "result": a.get(attrs.VOTE_RESULT, "?"),
            "rejection": a.get(attrs.VOTE_REJECTION, "?" if refused else None),
        }
    if node.name.startswith("StartChildWorkflow:"):
        ids = {
            str(n.attributes[attrs.APPROVAL_ID])
            for n in node.walk()
            if attrs.APPROVAL_ID in n.attributes
        }
        return {
            "kind": "child",
            "workflow": node.name.split(":", 1)[1],
            "approvals": ", ".join(sorted(ids)),
        }
    return {"kind": "span", "name": node.name}


def _detail(line: Field | RuleLine) -> Label:
    """A line under a step: a field (code when it is the tool's data) or a rule's verdict."""
    if isinstance(line, Field):
        return {"kind": "field", "label": line.label, "text": line.text, "data": line.data}
    return {
        "kind": "rule",
        "mark": line.mark(),
        "name": line.name if line.name is not None else "?",
        "verdict": line.verdict,
        "reasons": line.reasons,
    }


def _tokens(a: dict[str, Any]) -> dict[str, Any] | None:
    if attrs.INPUT_TOKENS not in a:
        return None
    cached = int(a.get(attrs.CACHE_READ_TOKENS, 0)) + int(a.get(attrs.CACHE_CREATION_TOKENS, 0))
    return {
        "input": a[attrs.INPUT_TOKENS],
        "cached": cached,
        "output": a.get(attrs.OUTPUT_TOKENS, 0),
    }


def _duration(ns: int) -> str:
    return f"{ns / 1e9:.2f} s" if ns >= 1_000_000_000 else f"{ns / 1e6:.1f} ms"


def _refuse(request: Request, as_json: bool, status: int, message: str) -> Response:
    if as_json:
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "timeline.html", {"conversation_id": "", "problem": message}, status)
