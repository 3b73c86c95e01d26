"""``AuditHandler``: the audit trail of an in-process run, from the driver's step events.

The in-process driver reports each step after it happened (a model call with its duration, a
tool call with its outcome), so this handler builds spans after the fact with the right start
and end times, and gives them the same names and attributes the Temporal activities record.
Each run (one user message and what it causes) becomes one trace under an ``invoke_agent``
span; when the caller already has a span open (a web request, a conversation of its own), the
run's span nests in it instead of starting a trace.

State lives in a context variable, not on the handler, so one handler can serve concurrent
runs of the same agent: each asyncio task sees its own run.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from agentflow.audit import attributes as attrs
from agentflow.audit.attributes import Attributes
from agentflow.audit.recorder import SpanRecorder, recorder_for
from agentflow.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    ModelCalled,
    ModelFailed,
    ModelRetrying,
    PreconditionChecked,
    RunFinished,
    TextDelta,
    ToolExecuted,
)
from agentflow.intent import Intent, ReadOnlyPolicy
from agentflow.messages import ModelRequest, ModelResponse, Usage
from agentflow.outcomes import ToolFailed

log = logging.getLogger("agentflow.audit")


@dataclass
class _RunSpans:
    root: Span
    context: Context
    usage: Usage = field(default_factory=Usage)
    preconditions: dict[str, tuple[PreconditionChecked, int]] = field(
        default_factory=dict[str, tuple[PreconditionChecked, int]]
    )
    output: ModelResponse | None = None
    """The model's last answer: the turn's output."""
    tools: dict[str, Span] = field(default_factory=dict[str, Span])
    """Tool spans opened before their call ended: the intent written before the body nests in
    them."""


class AuditHandler:
    """An [`agentflow.EventHandler`][] that records every step of in-process runs as spans.

    Args:
        tracer_provider: where the spans go; usually [`agentflow.audit.configure_tracing`][]'s
            provider, whose redactor and content switch then apply.
        model: the agent's model, to name its provider (``anthropic``) in ``gen_ai.*``
            attributes; without it the provider is taken from the response.
        agent: the agent's name, for ``gen_ai.agent.name``.

    Usage::

        tracing = configure_tracing(database_url="sqlite:///audit.db")
        agent = Agent(model, tools=[...], event_handlers=[AuditHandler(tracing, model=model)])
    """

    def __init__(
        self, tracer_provider: TracerProvider, *, model: object | None = None, agent: str = "agent"
    ) -> None:
        self._recorder: SpanRecorder = recorder_for(tracer_provider)
        self._model = model
        self._agent = agent
        self._run: ContextVar[_RunSpans | None] = ContextVar(
            f"agentflow_audit_run_{id(self)}", default=None
        )

    @property
    def read_only(self) -> ReadOnlyPolicy:
        """What a read-only call does when its intent cannot be written (the provider's say)."""
        intents = self._recorder.intents
        return intents.read_only if intents is not None else "refuse"

    async def record_intent(self, intent: Intent) -> None:
        """Write the intent of a call about to run into the audit store (an `IntentLog`).

        The agent calls this before every tool body it runs; it raises when the store cannot
        take the record, and the call is then refused.
        """
        intents = self._recorder.intents
        if intents is None:
            return
        run = self._run.get()
        context = None
        if run is not None:
            checked = run.preconditions.get(intent.call_id)
            start = checked[1] if checked is not None else time.time_ns()
            span = self._child(run, f"execute_tool {intent.tool}", start)
            run.tools[intent.call_id] = span
            context = trace.set_span_in_context(span)
        token = otel_context.attach(context) if context is not None else None
        try:
            await intents.record_intent(intent)
        finally:
            if token is not None:
                otel_context.detach(token)

    def __call__(self, event: Event) -> None:
        # Observers must not raise: a broken trail is logged, the run goes on.
        try:
            self._record(event, time.time_ns())
        except Exception:
            log.exception("the audit trail could not record a %s step", type(event).__name__)

    def _record(self, event: Event, now: int) -> None:
        run = self._run.get() or self._start_run(event, now)
        recorder, content = self._recorder, self._recorder.content
        match event:
            case ModelCalled(request=request, response=response, duration_s=duration):
                span = self._child(run, self._chat_name(), now - _ns(duration), SpanKind.CLIENT)
                span.set_attributes(self._chat_request(request))
                span.set_attributes(attrs.chat_response(response, content=content))
                if self._model is None and response.model:
                    span.set_attributes(attrs.provider_attributes(_provider_from(response.model)))
                run.usage += response.usage
                run.output = response
                span.end(end_time=now)
                self._measure(duration, response=response)
            case ModelFailed(request=request, error=error):
                span = self._child(run, self._chat_name(), now, SpanKind.CLIENT)
                span.set_attributes(self._chat_request(request))
                span.set_attribute(attrs.ERROR_TYPE, "ModelError")
                span.set_status(Status(StatusCode.ERROR, content.redact(error)))
                span.end(end_time=now)
                self._measure(0.0, error_type="ModelError")
            case ModelRetrying():
                run.root.add_event(
                    "model retrying", attrs.model_retrying(event, content=content), timestamp=now
                )
            case PreconditionChecked(call=call):
                run.preconditions[call.id] = (event, now)
            case ToolExecuted(call=call, outcome=outcome, duration_s=duration):
                checked = run.preconditions.pop(call.id, None)
                # The tool's duration covers its body; its preconditions were decided just
                # before, and their span must lie within the tool's.
                start = now - _ns(duration)
                if checked is not None:
                    start = min(start, checked[1])
                span = run.tools.pop(call.id, None)
                if span is None:
                    span = self._child(run, f"execute_tool {call.name}", start)
                span.set_attributes(attrs.provider_attributes(self._provider()))
                span.set_attributes(
                    attrs.tool_call(
                        call.name, call.id, call.arguments, call.digest, content=content
                    )
                )
                span.set_attributes(attrs.tool_outcome(outcome, content=content))
                if checked is not None:
                    recorder.precondition(checked[0], parent=span, at_ns=checked[1])
                if isinstance(outcome, ToolFailed):
                    span.set_status(Status(StatusCode.ERROR, attrs.failure_description(outcome)))
                span.end(end_time=now)
            case ApprovalRequested(request=request):
                span = self._child(run, "approval requested", now)
                span.set_attributes(attrs.approval_request(request, content=content))
                span.set_attribute(attrs.APPROVAL_EVENT, "requested")
                span.end(end_time=now)
            case ApprovalDecided(decision=decision):
                span = self._child(run, "approval decided", now)
                span.set_attributes(attrs.approval_decision(decision, content=content))
                span.set_attribute(attrs.APPROVAL_EVENT, "decided")
                span.end(end_time=now)
            case TextDelta():
                pass  # pieces of an answer its ModelCalled step records whole
            case RunFinished(result=result):
                finished: Attributes = {
                    attrs.CONVERSATION_ID: result.conversation_id,
                    attrs.SESSION_ID: result.conversation_id,
                    attrs.RUN_STATUS: result.status,
                    **attrs.usage(run.usage),
                }
                if run.output is not None:
                    # The turn's answer on its root, where observability tools look for it.
                    answer = attrs.chat_response(run.output, content=content)
                    attrs.put(finished, attrs.OUTPUT_MESSAGES, answer.get(attrs.OUTPUT_MESSAGES))
                    attrs.put(finished, attrs.RESPONSE_ID, answer.get(attrs.RESPONSE_ID))
                run.root.set_attributes(finished)
                run.root.end(end_time=now)
                self._run.set(None)

    def _start_run(self, event: Event, now: int) -> _RunSpans:
        started = now - _ns(event.duration_s) if isinstance(event, ModelCalled) else now
        root = self._recorder.tracer.start_span(
            f"invoke_agent {self._agent}",
            kind=SpanKind.INTERNAL,
            start_time=started,
            attributes={
                attrs.KIND: "run",
                attrs.OPERATION: "invoke_agent",
                attrs.AGENT_NAME: self._agent,
                **attrs.provider_attributes(self._provider()),
            },
        )
        run = _RunSpans(root=root, context=trace.set_span_in_context(root))
        self._run.set(run)
        return run

    def _child(
        self, run: _RunSpans, name: str, start: int, kind: SpanKind = SpanKind.INTERNAL
    ) -> Span:
        return self._recorder.tracer.start_span(
            name, context=run.context, kind=kind, start_time=start
        )

    def _provider(self) -> str:
        return attrs.provider_name(self._model) if self._model is not None else "unknown"

    def _measure(
        self,
        duration_s: float,
        *,
        response: ModelResponse | None = None,
        error_type: str | None = None,
    ) -> None:
        metrics = self._recorder.metrics
        if metrics is not None:
            metrics.chat(
                provider=self._provider(),
                model=str(getattr(self._model, "name", "unknown")),
                server=attrs.server(self._model),
                duration_s=duration_s,
                response=response,
                error_type=error_type,
            )

    def _chat_name(self) -> str:
        return f"chat {getattr(self._model, 'name', 'model')}"

    def _chat_request(self, request: ModelRequest) -> Attributes:
        model = self._model
        return (
            attrs.chat_request(
                request,
                provider=self._provider(),
                model=str(getattr(model, "name", "unknown")),
                content=self._recorder.content,
            )
            | attrs.server(model)
            | {attrs.AGENT_NAME: self._agent}
        )


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _provider_from(model_id: str) -> str:
    return "anthropic" if model_id.startswith("claude") else model_id
