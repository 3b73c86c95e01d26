"""Span exporters: into the audit store, redacting, and sampled for OTLP.

[`AuditSpanExporter`][agentflow.audit.AuditSpanExporter] is an ordinary OpenTelemetry
``SpanExporter``, so it sits behind a ``BatchSpanProcessor`` like any other and the spans reach the
database off the hot path. [`span_record`][agentflow.audit.span_record] is the one conversion from a
finished span to what the store keeps; the tests use it too, to compare the spans a run produced
with what came back from the database.

The audit trail records every span of every conversation, whole: the tracer provider samples
everything and limits nothing. `SampledExporter` then applies the sampler and the span
limits that the standard variables configure (``OTEL_TRACES_SAMPLER``,
``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, ...) to what goes over OTLP, so a collector gets what it
was configured for and the trail loses nothing.

Content is redacted where spans are recorded. What agentflow does not write itself — exception
messages and tracebacks that OpenTelemetry or Temporal's interceptor attach, error descriptions —
goes through `RedactingExporter` before any exporter sees it.

`RedactingExporter` also drops a second ``RunWorkflow:*`` span for the same workflow run.
Temporal's interceptor skips spans while a workflow replays, but when a conversation's first
workflow task issued no commands (it waits for the first message) and the worker lost the
workflow from its cache, Temporal folds that task into the next one, and the workflow's start
is re-executed as if new: its ``RunWorkflow`` span would be recorded twice.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Link, Status, format_span_id, format_trace_id
from opentelemetry.util.types import Attributes

from agentflow.audit.attributes import KIND
from agentflow.audit.redaction import Redact
from agentflow.audit.store import AuditStore, SpanRecord

log = logging.getLogger("agentflow.audit")
_Item = TypeVar("_Item")


def span_record(span: ReadableSpan) -> SpanRecord:
    """A finished span as the audit store keeps it (ids in hex, times in nanoseconds)."""
    context = span.get_span_context()
    assert context is not None  # a finished SDK span always has one
    service = span.resource.attributes.get("service.name")
    return SpanRecord(
        trace_id=format_trace_id(context.trace_id),
        span_id=format_span_id(context.span_id),
        parent_span_id=format_span_id(span.parent.span_id) if span.parent is not None else None,
        name=span.name,
        kind=span.kind.name.lower(),
        start_ns=span.start_time or 0,
        end_ns=span.end_time or span.start_time or 0,
        status=span.status.status_code.name.lower(),
        status_message=span.status.description or "",
        attributes=_json_attributes(span.attributes),
        events=[
            {
                "name": e.name,
                "time_ns": e.timestamp,
                "attributes": _json_attributes(e.attributes),
            }
            for e in span.events
        ],
        links=[
            {
                "trace_id": format_trace_id(link.context.trace_id),
                "span_id": format_span_id(link.context.span_id),
                "attributes": _json_attributes(link.attributes),
            }
            for link in span.links
        ],
        service=service if isinstance(service, str) else "",
    )


def _json_attributes(attributes: Attributes) -> dict[str, Any]:
    return {key: _json_value(value) for key, value in (attributes or {}).items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return _json_attributes(value)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_json_value(item) for item in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def _is_intent(span: ReadableSpan) -> bool:
    return (span.attributes or {}).get(KIND) == "intent"


class AuditSpanExporter(SpanExporter):
    """Writes finished spans to an [`AuditStore`][agentflow.audit.AuditStore], hash-chained."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        # An intent span was appended by its recorder before the call ran (see intents.py).
        records = [span_record(span) for span in spans if not _is_intent(span)]
        if not records:
            return SpanExportResult.SUCCESS
        try:
            self.store.append(records)
        except Exception:
            # The processor has no one to raise to; say loudly that the trail has a hole.
            log.exception("could not write %d span(s) to the audit store", len(spans))
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        # A checkpoint of what this process wrote: a short-lived one pins its records too.
        self.store.checkpoint_if_behind()
        self.store.dispose()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


_FREE_TEXT = ("exception.message", "exception.stacktrace")
_RUNS_REMEMBERED = 10_000


class RedactingExporter(SpanExporter):
    """Passes spans on to ``exporter`` with exception texts and error descriptions redacted.

    It drops repeated ``RunWorkflow:*`` spans of one workflow run (see the module docstring).
    """

    def __init__(self, exporter: SpanExporter, redact: Redact) -> None:
        self.exporter = exporter
        self._redact = redact
        self._runs: OrderedDict[tuple[int, str], None] = OrderedDict()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        kept = [self._clean(span) for span in spans if not self._repeated_run(span)]
        return self.exporter.export(kept) if kept else SpanExportResult.SUCCESS

    def _repeated_run(self, span: ReadableSpan) -> bool:
        if not span.name.startswith("RunWorkflow:"):
            return False
        run = (span.attributes or {}).get("temporalRunID")
        context = span.get_span_context()
        if not isinstance(run, str) or context is None:
            return False
        key = (context.trace_id, run)
        if key in self._runs:
            return True
        self._runs[key] = None
        if len(self._runs) > _RUNS_REMEMBERED:
            self._runs.popitem(last=False)
        return False

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def _clean(self, span: ReadableSpan) -> ReadableSpan:
        description = span.status.description
        if not description and not any(e.name == "exception" for e in span.events):
            return span
        status = span.status
        if description:
            status = Status(status.status_code, self._redact(description))
        events = [self._clean_event(e) for e in span.events]
        return _copy(
            span, attributes=span.attributes, events=events, links=span.links, status=status
        )

    def _clean_event(self, event: Event) -> Event:
        if event.name != "exception" or not event.attributes:
            return event
        cleaned = {
            key: self._redact(value) if key in _FREE_TEXT and isinstance(value, str) else value
            for key, value in event.attributes.items()
        }
        return Event(event.name, cleaned, event.timestamp)


class SampledExporter(SpanExporter):
    """Passes on to ``exporter`` the spans of the traces ``sampler`` samples, cut to ``limits``.

    The decision is the sampler's for a root span of the trace (no parent), so a trace goes out
    whole or not at all: ``traceidratio`` keeps the same share of conversations, ``always_off``
    none. ``limits`` cut attribute values, and the number of attributes, events and links, as
    the SDK would have when recording.
    """

    def __init__(self, exporter: SpanExporter, sampler: Sampler, limits: SpanLimits) -> None:
        self.exporter = exporter
        self.sampler = sampler
        self.limits = limits

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        kept = [self._limit(span) for span in spans if self._sampled(span)]
        return self.exporter.export(kept) if kept else SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def _sampled(self, span: ReadableSpan) -> bool:
        context = span.get_span_context()
        if context is None:
            return False
        # An empty context: a parent-based sampler must not see the exporting thread's span.
        decision = self.sampler.should_sample(
            Context(), context.trace_id, span.name, span.kind, span.attributes, span.links
        ).decision
        return decision.is_sampled()

    def _limit(self, span: ReadableSpan) -> ReadableSpan:
        limits = self.limits
        events = [
            Event(e.name, self._bounded(e.attributes, limits.max_event_attributes), e.timestamp)
            for e in _last(span.events, limits.max_events)
        ]
        links = [
            Link(link.context, self._bounded(link.attributes, limits.max_link_attributes))
            for link in _last(span.links, limits.max_links)
        ]
        attributes = BoundedAttributes(
            limits.max_span_attributes,
            span.attributes,
            immutable=True,
            max_value_len=limits.max_span_attribute_length,
        )
        return _copy(span, attributes=attributes, events=events, links=links, status=span.status)

    def _bounded(self, attributes: Attributes, count: int | None) -> BoundedAttributes:
        length = self.limits.max_attribute_length
        return BoundedAttributes(count, attributes, immutable=True, max_value_len=length)


def _last(items: Sequence[_Item], count: int | None) -> Sequence[_Item]:
    """The newest ``count`` items, as the SDK keeps them when a span has more."""
    return items if count is None or len(items) <= count else items[len(items) - count :]


def _copy(
    span: ReadableSpan,
    *,
    attributes: Attributes,
    events: Sequence[Event],
    links: Sequence[Link],
    status: Status,
) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.get_span_context(),
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
