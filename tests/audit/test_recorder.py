"""``SpanRecorder``'s preset span ids: a span named before it exists, and the spans after it."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, TraceFlags

from agentflow.audit import recorder_for
from agentflow.messages import Usage

TURN = 0x7E57_0001


def test_a_recorder_that_named_a_span_still_starts_new_traces() -> None:
    """Naming a span's id once must not break the tracer for the spans that start traces.

    The recorder swaps its tracer's id generator for one that can hand out a preset id. The
    SDK asks that generator, whenever a span starts a new trace, whether its trace ids are
    random: a worker that had recorded one turn then failed every activity that started a trace
    (a vote sent from a client without tracing) with an AttributeError.
    """
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    recorder = recorder_for(provider)
    parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    recorder.turn(
        agent="booker",
        conversation_id="conv-1",
        user="alice",
        parent=parent,
        span_id=TURN,
        start_ns=1,
        end_ns=2,
        status="completed",
        usage=Usage(),
        response=None,
        model=None,
    )
    with recorder.conversation(conversation_id="conv-2", agent="booker", user="alice"):
        pass
    turn, conversation = (_context(s) for s in exported.get_finished_spans())
    assert turn.span_id == TURN
    assert conversation.trace_id != 0xABC and conversation.span_id != TURN


def _context(span: ReadableSpan) -> SpanContext:
    assert span.context is not None
    return span.context
