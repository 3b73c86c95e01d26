"""One span per turn of a durable conversation, lasting the turn, its steps as its children.

A turn runs in workflow code, over many workflow tasks, possibly on several workers and across
continue-as-new, and may wait days for an approval: no span object can stay open that long, and
workflow code re-runs on replay. So the turn's span is named before it exists and written once
it ends:

- when the turn starts, the workflow makes a span context current whose span id is derived from
  the conversation's trace, the conversation and the turn number (``turn_span_id``): the
  same on every replay and in the run that carries the turn on after continue-as-new. Temporal's
  tracing interceptor puts the current context into every activity and child workflow it starts,
  so the turn's model calls, tool calls and approvals are recorded as its descendants;
- when the turn ends, the workflow hands a ``TurnSpan`` to the worker (an extern function
  that ``AuditInterceptor`` registers), only when not replaying;
  the worker records the ``invoke_agent`` span with that id, from the turn's start to its end,
  with its usage, status and answer.

Until the turn ends its steps have no parent in the store: the views hang them under the
conversation's root (see ``agentflow.audit.span_trees``).

This module is imported by workflow code: it uses OpenTelemetry's context API only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext
from temporalio import workflow

from agentflow.loop import Status
from agentflow.messages import ModelResponse, Usage

TURN_SPAN_EXTERN = "__agentflow_turn_span"
"""The extern function a worker's audit interceptor gives workflows to record a turn's span."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnSpan:
    """A finished turn, as the workflow hands it to the worker to record."""

    agent: str
    conversation_id: str
    user: str | None
    turn: int
    trace_id: int
    parent_span_id: int
    span_id: int
    trace_flags: int
    start_ns: int
    end_ns: int
    status: Status
    usage: Usage
    response: ModelResponse | None
    """The model's last answer in the turn (its output), if it gave one."""


def derived_span_id(key: str) -> int:
    """A span id derived from ``key``: the same wherever it is computed, never the invalid 0.

    For a span that a replay, or another worker running the same step again, must record under
    the same id (a turn's, a tool call attempt's).
    """
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") or 1


def turn_span_id(trace_id: int, conversation_id: str, turn: int) -> int:
    """The span id of a turn's ``invoke_agent`` span."""
    return derived_span_id(f"{trace_id:032x}/{conversation_id}/{turn}")


@dataclass(frozen=True, slots=True)
class TurnIds:
    trace_id: int
    parent_span_id: int
    span_id: int
    trace_flags: int


class TurnTracing:
    """The workflow's side: a turn's span context while it runs, and its record when it ends."""

    def __init__(self) -> None:
        self._outer: otel_context.Context | None = None

    @contextmanager
    def turn(self, conversation_id: str, turn: int) -> Generator[TurnIds | None]:
        """Make the turn's span current (``None`` when the conversation is not traced)."""
        parent = trace.get_current_span().get_span_context()
        if not parent.is_valid:
            yield None
            return
        ids = TurnIds(
            trace_id=parent.trace_id,
            parent_span_id=parent.span_id,
            span_id=turn_span_id(parent.trace_id, conversation_id, turn),
            trace_flags=parent.trace_flags,
        )
        span = NonRecordingSpan(
            SpanContext(ids.trace_id, ids.span_id, is_remote=False, trace_flags=parent.trace_flags)
        )
        self._outer = otel_context.get_current()
        token = otel_context.attach(trace.set_span_in_context(span))
        closed = False
        try:
            yield ids
        except GeneratorExit:
            # The workflow is being torn down (evicted, its worker stopped) and its coroutine
            # closed, by the garbage collector if not sooner, in whatever context that runs in.
            # The token belongs to the workflow task's own context, which goes with the task:
            # there is nothing to restore, and detaching here would fail ("Failed to detach
            # context"). Every other way out of the turn runs in the task and detaches.
            closed = True
            raise
        finally:
            if not closed:
                otel_context.detach(token)
            self._outer = None

    @contextmanager
    def outside(self) -> Generator[None]:
        """The conversation's context, not the turn's: what continue-as-new must carry on.

        The next run makes its turns' spans children of the context it was started with.
        """
        if self._outer is None:
            yield
            return
        token = otel_context.attach(self._outer)
        try:
            yield
        finally:
            otel_context.detach(token)

    @staticmethod
    def finished(span: TurnSpan) -> None:
        """Hand the finished turn to the worker, once: never while replaying."""
        if workflow.unsafe.is_replaying():
            return
        # Extern functions are untyped (any callable): this one is the audit interceptor's.
        externs = cast(
            Mapping[str, Callable[[TurnSpan], None]],
            workflow.extern_functions(),  # pyright: ignore[reportUnknownMemberType]
        )
        record = externs.get(TURN_SPAN_EXTERN)
        if record is not None:
            record(span)
