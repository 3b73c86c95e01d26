"""Span trees: the audit trail's records put back together, as the trace viewer shows them.

Records are rows; a conversation is a tree. [`span_trees`][agentflow.audit.span_trees] rebuilds the
trees from parent ids (a span whose parent is not among the records becomes a root of its own, so a
partial export still shows what it has). `steps_only` then hides Temporal's plumbing — the spans
its interceptor records for starting and running activities, handling updates, completing
workflows — and lifts their children, which leaves the steps an auditor reads: the
conversation, the user's messages, model calls, tool calls with their precondition decisions,
and approvals (grouped under the child workflow that carried them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentflow.audit.attributes import KIND

if TYPE_CHECKING:
    from agentflow.audit.store import SpanRecord

TEMPORAL_PLUMBING = (
    "StartWorkflow:",
    "SignalWithStartWorkflow:",
    "StartWorkflowUpdate:",
    "StartUpdateWithStartWorkflow:",
    "SignalWorkflow:",
    "QueryWorkflow:",
    "RunWorkflow:",
    "CompleteWorkflow:",
    "HandleUpdate:",
    "ValidateUpdate:",
    "HandleSignal:",
    "HandleQuery:",
    "StartActivity:",
    "RunActivity:",
    "SignalChildWorkflow:",
    "SignalExternalWorkflow:",
)
"""Span name prefixes of ``temporalio.contrib.opentelemetry`` that are transport, not steps."""


@dataclass
class SpanNode:
    """A span and its children, oldest first."""

    record: SpanRecord
    children: list[SpanNode] = field(default_factory=list["SpanNode"])

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def step(self) -> str | None:
        """The kind of agentflow step (``chat``, ``tool``, ...), ``None`` for other spans."""
        value = self.record.attributes.get(KIND)
        return value if isinstance(value, str) else None

    @property
    def attributes(self) -> dict[str, Any]:
        return self.record.attributes

    def extent(self) -> tuple[int, int]:
        """From the earliest start to the latest end in this subtree (workflow spans last 0 s)."""
        starts = [n.record.start_ns for n in self.walk()]
        ends = [n.record.end_ns for n in self.walk()]
        return min(starts), max(ends)

    def walk(self) -> Iterator[SpanNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        record = self.record
        start, end = self.extent()
        return {
            "name": record.name,
            "step": self.step,
            "trace_id": record.trace_id,
            "span_id": record.span_id,
            "parent_span_id": record.parent_span_id,
            "kind": record.kind,
            "start_ns": record.start_ns,
            "end_ns": record.end_ns,
            "duration_ms": round((end - start) / 1e6, 3),
            "status": record.status,
            "status_message": record.status_message,
            "attributes": record.attributes,
            "events": record.events,
            "links": record.links,
            "children": [child.to_dict() for child in self.children],
        }


def span_trees(records: Iterable[SpanRecord]) -> list[SpanNode]:
    """The trees the records form, roots and children ordered by start time.

    A span whose parent is not among the records hangs under the root of its trace (the span
    with no parent at all) when there is one: a durable turn's span is written when the turn
    ends, and until then its steps wait under the conversation. Without such a root (a partial
    export, a run nested in a caller's span) it is a root of its own.

    A span recorded more than once is one node, its latest record, with the children of every
    record: a tool call run as a local activity runs again, under the same span id, when its
    worker is lost before the workflow task that ran it completes (see
    `agentflow.temporal.activities.attempt_span_id`); the trail shows that call once, with each
    run's intent under it.
    """
    # Later records of a span id replace earlier ones: the records come in the order written.
    nodes = {(r.trace_id, r.span_id): SpanNode(r) for r in records}
    tops: dict[str, SpanNode] = {}
    for node in sorted(nodes.values(), key=_started, reverse=True):
        if not node.record.parent_span_id:
            tops[node.record.trace_id] = node  # the earliest, when there are several
    roots: list[SpanNode] = []
    for node in nodes.values():
        record = node.record
        parent = nodes.get((record.trace_id, record.parent_span_id or ""))
        if parent is None and record.parent_span_id:
            top = tops.get(record.trace_id)
            parent = top if top is not node else None
        if parent is None:
            roots.append(node)
        else:
            parent.children.append(node)
    for node in nodes.values():
        node.children.sort(key=_started)
    return sorted(roots, key=_started)


def is_plumbing(node: SpanNode) -> bool:
    return node.name.startswith(TEMPORAL_PLUMBING)


def steps_only(nodes: Iterable[SpanNode]) -> list[SpanNode]:
    """The same trees without Temporal's plumbing spans; their children take their place."""
    kept: list[SpanNode] = []
    for node in nodes:
        children = steps_only(node.children)
        if is_plumbing(node):
            kept.extend(children)
        else:
            kept.append(SpanNode(node.record, children))
    return sorted(kept, key=_started)


def by_trace(nodes: Iterable[SpanNode]) -> dict[str, list[SpanNode]]:
    """Roots grouped by trace id, traces in the order they started."""
    traces: dict[str, list[SpanNode]] = {}
    for node in sorted(nodes, key=_started):
        traces.setdefault(node.record.trace_id, []).append(node)
    return traces


def conversation_json(
    conversation_id: str, records: Iterable[SpanRecord], *, raw: bool = False
) -> dict[str, Any]:
    """What ``agentflow trace --json`` prints: each trace of the conversation as nested spans."""
    roots = span_trees(records)
    shown = roots if raw else steps_only(roots)
    return {
        "conversation_id": conversation_id,
        "traces": [
            {"trace_id": trace_id, "spans": [n.to_dict() for n in trace_roots]}
            for trace_id, trace_roots in by_trace(shown).items()
        ],
    }


def _started(node: SpanNode) -> tuple[int, int]:
    # Ties (workflow spans share their task's timestamp) keep a stable, sensible order.
    return node.record.start_ns, node.record.end_ns
