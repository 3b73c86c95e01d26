"""``SpanRecorder``: one span per step, opened where the step happens.

Under Temporal the steps happen in activities (model and tool calls, approval notices) and in
the client (the conversation's start, each user message, each vote on an approval). Recording
them there, rather than in workflow code, is what keeps the trail exact under replay: a workflow
re-runs its code every time a worker rebuilds it from history, an activity or a client call
runs once per attempt. The Temporal interceptor makes each of these spans a child of the
conversation's trace.

A recorder built on a no-op tracer records nothing: it skips building attributes and the
spans' context (`SpanRecorder.records`), so the activities can hold one unconditionally.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    NonRecordingSpan,
    NoOpTracer,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

from agentflow.audit import attributes as attrs
from agentflow.audit.attributes import Attributes, Content
from agentflow.audit.metrics import GenAIMetrics
from agentflow.events import Event, ModelRetrying, PreconditionChecked
from agentflow.intent import IntentLog
from agentflow.loop import Status as ReplyStatus
from agentflow.loop import ToolCall
from agentflow.messages import ModelRequest, ModelResponse, Usage
from agentflow.outcomes import ToolFailed, ToolOutcome

if TYPE_CHECKING:
    from agentflow.approvals.records import ApprovalNotice, ApprovalVote


class IdGenerator(Protocol):
    """What the OpenTelemetry SDK's tracers draw span and trace ids from."""

    def generate_span_id(self) -> int: ...

    def generate_trace_id(self) -> int: ...


TRACER_NAME = "agentflow"


def recorder_for(tracer_provider: TracerProvider) -> SpanRecorder:
    """The span recorder agentflow's drivers use with ``tracer_provider``.

    The content policy comes from the provider when it has one (``configure_tracing``'s does);
    any other provider gets the default: content recorded, through
    [`Redactor`][agentflow.audit.Redactor]. So does the log that records each call's intent before
    its body runs (only a provider with an audit store has one).
    """
    content = getattr(tracer_provider, "content", None)
    policy = content if isinstance(content, Content) else None
    intents = getattr(tracer_provider, "intents", None)
    log = intents if isinstance(intents, IntentLog) else None
    metrics = getattr(tracer_provider, "metrics", None)
    return SpanRecorder(
        tracer_provider.get_tracer(TRACER_NAME),
        policy,
        log,
        metrics if isinstance(metrics, GenAIMetrics) else None,
    )


class SpanRecorder:
    """Opens the spans of agentflow's steps on ``tracer``, with ``content`` deciding what is kept.

    Build one with [`recorder_for`][agentflow.audit.recorder_for]; the drivers call it, users do
    not.
    """

    def __init__(
        self,
        tracer: Tracer,
        content: Content | None = None,
        intents: IntentLog | None = None,
        metrics: GenAIMetrics | None = None,
    ) -> None:
        self.tracer = tracer
        self.content = content or Content()
        self.intents = intents
        """Where a call's intent is written before its body runs (``None``: not recorded)."""
        self.metrics = metrics
        """The GenAI token and duration histograms (``None``: no meter provider)."""
        self.records = not isinstance(tracer, NoOpTracer)
        """Whether this recorder records anything: on a no-op tracer its steps' spans are the
        invalid span, not made current, and what only a span would carry (a precondition's
        record, the provenance of the arguments it judged) need not be computed."""

    # -- model and tool calls (activities) ----------------------------------------------------

    @contextmanager
    def chat(
        self,
        model: object,
        request: ModelRequest,
        *,
        agent: str | None = None,
        conversation_id: str | None = None,
    ) -> Generator[ChatStep]:
        """A span around one model call; call `ChatStep.responded` with the answer."""
        if not self.records and self.metrics is None:
            yield ChatStep(INVALID_SPAN, self.content)
            return
        name = str(getattr(model, "name", "") or type(model).__name__)
        provider, server = attrs.provider_name(model), attrs.server(model)
        started = time.perf_counter()
        step: ChatStep | None = None
        try:
            with self._span(f"chat {name}", SpanKind.CLIENT) as span:
                if span.is_recording():
                    span.set_attributes(
                        attrs.chat_request(
                            request, provider=provider, model=name, content=self.content
                        )
                    )
                    span.set_attributes(server)
                    span.set_attributes(_ids(agent, conversation_id))
                step = ChatStep(span, self.content)
                yield step
        except BaseException as exc:
            if self.metrics is not None:
                self.metrics.chat(
                    provider=provider,
                    model=name,
                    server=server,
                    duration_s=time.perf_counter() - started,
                    error_type=type(exc).__name__,
                )
            raise
        if self.metrics is not None:
            self.metrics.chat(
                provider=provider,
                model=name,
                server=server,
                duration_s=time.perf_counter() - started,
                response=step.response,
            )

    @contextmanager
    def tool_call(
        self,
        call: ToolCall,
        *,
        agent: str | None = None,
        conversation_id: str | None = None,
        model: object | None = None,
        span_id: int | None = None,
    ) -> Generator[ToolStep]:
        """A span around one tool call, preconditions included; the body's spans nest in it.

        ``model``: the agent's, which names the GenAI provider on the span. ``span_id``: the
        span's id, when the caller names this run of the call (a run repeated elsewhere then
        records the same span: see [`span_trees`][agentflow.audit.span_trees]).
        """
        preset = _preset_span_id(self.tracer, span_id) if span_id is not None else nullcontext()
        with preset, self._span(f"execute_tool {call.name}", SpanKind.INTERNAL) as span:
            if span.is_recording():
                span.set_attributes(
                    attrs.tool_call(
                        call.name, call.id, call.arguments, call.digest, content=self.content
                    )
                )
                span.set_attributes(_ids(agent, conversation_id))
                if model is not None:
                    span.set_attributes(attrs.provider_attributes(attrs.provider_name(model)))
            yield ToolStep(self, span, call)

    def precondition(
        self, event: PreconditionChecked, *, parent: Span | None = None, at_ns: int | None = None
    ) -> None:
        """A zero-length span for a precondition decision, with one event per rule."""
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(
            f"precondition {event.call.name}", context=context, start_time=at_ns
        )
        if span.is_recording():
            traced = event.provenance.describe() if event.provenance is not None else None
            decision, rules = attrs.precondition(
                event.call.name,
                event.evaluation,
                event.approved_by,
                content=self.content,
                provenance=traced,
            )
            span.set_attributes(decision)
            for rule in rules:
                span.add_event(attrs.RULE_EVENT, rule, timestamp=at_ns)
        span.end(end_time=at_ns)

    # -- approvals (activities and client) ----------------------------------------------------

    def approval_notice(self, notice: ApprovalNotice, *, since: datetime | None = None) -> None:
        """A span for one step of an approval's life: requested, reminder, ... decided, expired.

        ``since`` is when the approval workflow asked for the notice (the activity's scheduled
        time): the span runs from then until the humans were told, so the trail shows when the
        request was made, not only when a slow channel delivered it.
        """
        start = int(since.timestamp() * 1_000_000_000) if since is not None else None
        span = self.tracer.start_span(f"approval {notice.kind}", start_time=start)
        if span.is_recording():
            attributes = attrs.approval_request(notice.request, content=self.content)
            attributes[attrs.APPROVAL_ID] = notice.workflow_id
            attributes[attrs.APPROVAL_EVENT] = notice.kind
            attributes[attrs.APPROVAL_APPROVERS] = list(notice.approvers)
            attributes[attrs.CONVERSATION_ID] = notice.conversation_id
            if notice.decision is not None:
                attributes.update(attrs.approval_decision(notice.decision, content=self.content))
            if notice.result is not None and notice.result.decided_by:
                attributes[attrs.APPROVAL_DECIDED_BY] = notice.result.decided_by
            span.set_attributes(attributes)
        span.end()

    @contextmanager
    def approval_vote(self, approval_id: str, vote: ApprovalVote) -> Generator[VoteStep]:
        """A span around a human's decision as sent, accepted or not."""
        with self._span("approval vote", SpanKind.CLIENT) as span:
            if span.is_recording():
                attributes: Attributes = {
                    attrs.KIND: "vote",
                    attrs.APPROVAL_ID: approval_id,
                    attrs.APPROVAL_APPROVER: vote.approver,
                    attrs.VOTE_APPROVE: vote.approve,
                    attrs.APPROVAL_DIGEST: vote.digest,
                }
                if vote.reason:
                    attributes[attrs.APPROVAL_DECISION_REASON] = self.content.redact(vote.reason)
                span.set_attributes(attributes)
            yield VoteStep(span, self.content)

    def vote_refused(
        self,
        *,
        approval_id: str,
        conversation_id: str | None,
        person: str | None,
        approve: bool,
        digest: str,
        reason: str,
        channel: str | None = None,
        channel_user: str | None = None,
        context: otel_context.Context | None = None,
    ) -> None:
        """A zero-length span for a decision refused before it reached the approval workflow.

        ``context`` puts it in the conversation's trace; without one it starts a trace of its
        own, never the caller's (a refusal is no step of whatever request carried it). What the
        person supplied is recorded shortened: it is untrusted and may be anything.
        """
        span = self.tracer.start_span(
            "approval vote refused", context=context or otel_context.Context()
        )
        if span.is_recording():
            attributes: Attributes = {
                attrs.KIND: "vote",
                attrs.APPROVAL_ID: _clip(approval_id),
                attrs.VOTE_APPROVE: approve,
                attrs.APPROVAL_DIGEST: _clip(digest),
                attrs.VOTE_RESULT: "refused",
                attrs.VOTE_REJECTION: self.content.redact(_clip(reason) or ""),
            }
            attrs.put(attributes, attrs.CONVERSATION_ID, _clip(conversation_id))
            attrs.put(attributes, attrs.APPROVAL_APPROVER, _clip(person))
            attrs.put(attributes, attrs.VOTE_CHANNEL, _clip(channel))
            attrs.put(attributes, attrs.VOTE_CHANNEL_USER, _clip(channel_user))
            span.set_attributes(attributes)
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def slack_request_rejected(
        self, *, reason: str, timestamp: str | None, client_address: str | None
    ) -> None:
        """A zero-length span, in a trace of its own, for a Slack request rejected unread.

        Nothing of the body is recorded: it is unverified, so nothing in it can be trusted to
        name a conversation or a person, and it may be large.
        """
        span = self.tracer.start_span(
            "slack request rejected", kind=SpanKind.SERVER, context=otel_context.Context()
        )
        if span.is_recording():
            attributes: Attributes = {attrs.KIND: "slack_request", attrs.SLACK_REJECTION: reason}
            attrs.put(attributes, attrs.SLACK_TIMESTAMP, _clip(timestamp, _SHORT))
            attrs.put(attributes, attrs.CLIENT_ADDRESS, _clip(client_address, _SHORT))
            span.set_attributes(attributes)
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    # -- a durable turn (worker) --------------------------------------------------------------

    def turn(
        self,
        *,
        agent: str,
        conversation_id: str,
        user: str | None,
        parent: SpanContext,
        span_id: int,
        start_ns: int,
        end_ns: int,
        status: ReplyStatus,
        usage: Usage,
        response: ModelResponse | None,
        model: object | None,
    ) -> None:
        """The ``invoke_agent`` span of one finished turn, written at its end with ``span_id``.

        Its steps were recorded while it ran, as children of ``span_id`` (a durable turn can
        last days: see ``agentflow.temporal.turns``). It carries what the in-process run's
        root carries: the turn's usage, its status and its answer.
        """
        context = trace.set_span_in_context(NonRecordingSpan(parent), otel_context.Context())
        attributes: Attributes = {
            attrs.KIND: "run",
            attrs.OPERATION: "invoke_agent",
            **_ids(agent, conversation_id),
            attrs.RUN_STATUS: status,
            **attrs.usage(usage),
        }
        if model is not None:
            attributes.update(attrs.provider_attributes(attrs.provider_name(model)))
        attrs.put(attributes, attrs.USER, user)
        attrs.put(attributes, attrs.USER_ID, user)
        if response is not None:
            answer = attrs.chat_response(response, content=self.content)
            attrs.put(attributes, attrs.OUTPUT_MESSAGES, answer.get(attrs.OUTPUT_MESSAGES))
            attrs.put(attributes, attrs.RESPONSE_ID, answer.get(attrs.RESPONSE_ID))
        with _preset_span_id(self.tracer, span_id):
            span = self.tracer.start_span(
                f"invoke_agent {agent}",
                context=context,
                kind=SpanKind.INTERNAL,
                start_time=start_ns,
                attributes=attributes,
            )
        span.end(end_time=end_ns)

    # -- the conversation (client) ------------------------------------------------------------

    @contextmanager
    def conversation(
        self,
        *,
        conversation_id: str,
        agent: str,
        user: str | None,
        links: Sequence[Link] = (),
        model: object | None = None,
    ) -> Generator[Span]:
        """The root of a conversation's trace: a new trace, linked to the caller's span if any.

        ``model``: the agent's, when the caller knows it, which names the GenAI provider.
        """
        token = otel_context.attach(otel_context.Context())
        try:
            with self._span(f"invoke_agent {agent}", SpanKind.CLIENT, links=links) as span:
                attributes: Attributes = {
                    attrs.KIND: "conversation",
                    attrs.OPERATION: "invoke_agent",
                    **_ids(agent, conversation_id),
                }
                attrs.put(attributes, attrs.USER, user)
                attrs.put(attributes, attrs.USER_ID, user)
                if model is not None:
                    attributes.update(attrs.provider_attributes(attrs.provider_name(model)))
                span.set_attributes(attributes)
                yield span
        finally:
            otel_context.detach(token)

    @contextmanager
    def user_message(
        self, conversation_id: str, text: str, sender: str | None = None
    ) -> Generator[MessageStep]:
        with self._span("user message", SpanKind.CLIENT) as span:
            attributes: Attributes = {
                attrs.KIND: "user_message",
                attrs.CONVERSATION_ID: conversation_id,
            }
            attrs.put(attributes, attrs.USER, sender)
            attrs.put(attributes, attrs.USER_ID, sender)
            attributes[attrs.SESSION_ID] = conversation_id
            attrs.put(attributes, attrs.USER_MESSAGE, self.content.text(text))
            span.set_attributes(attributes)
            yield MessageStep(span)

    # -- internals ----------------------------------------------------------------------------

    @contextmanager
    def _span(self, name: str, kind: SpanKind, links: Sequence[Link] = ()) -> Generator[Span]:
        if not self.records:
            # What a no-op tracer would start, without making it current around the step.
            yield INVALID_SPAN
            return
        # Exceptions are recorded by hand: their text can carry content and must be redacted,
        # and their traceback would only repeat it.
        with self.tracer.start_as_current_span(
            name, kind=kind, links=links, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except BaseException as exc:
                if span.is_recording():
                    span.set_attribute(attrs.ERROR_TYPE, type(exc).__name__)
                    span.set_status(Status(StatusCode.ERROR, self.content.redact(str(exc))))
                raise


_LONG = 256
_SHORT = 64


def _clip(text: str | None, limit: int = _LONG) -> str | None:
    """``text`` cut to ``limit`` characters (marked with an ellipsis): for untrusted values."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


class _PresetSpanIds:
    """An id generator that hands out a preset span id, once, when one is set."""

    def __init__(self, generator: IdGenerator) -> None:
        self.generator = generator
        self.preset: ContextVar[int | None] = ContextVar("agentflow_preset_span_id", default=None)

    def generate_span_id(self) -> int:
        preset = self.preset.get()
        if preset is not None:
            self.preset.set(None)
            return preset
        return self.generator.generate_span_id()

    def generate_trace_id(self) -> int:
        return self.generator.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        # Asked by newer SDKs for every span that starts a trace: the wrapped generator's
        # answer (older generators do not have the method).
        random = getattr(self.generator, "is_trace_id_random", None)
        return bool(random()) if callable(random) else False


@contextmanager
def _preset_span_id(tracer: Tracer, span_id: int) -> Generator[None]:
    """The next span ``tracer`` starts gets ``span_id`` (an SDK tracer; others ignore it)."""
    generator = getattr(tracer, "id_generator", None)
    if generator is None:
        yield
        return
    if not isinstance(generator, _PresetSpanIds):
        # The recorder's own tracer (the SDK makes one per get_tracer call): wrapped once.
        generator = _PresetSpanIds(cast(IdGenerator, generator))
        tracer.id_generator = generator  # pyright: ignore[reportAttributeAccessIssue]
    token = generator.preset.set(span_id)
    try:
        yield
    finally:
        generator.preset.reset(token)


def _ids(agent: str | None, conversation_id: str | None) -> Attributes:
    ids: Attributes = {}
    attrs.put(ids, attrs.AGENT_NAME, agent)
    attrs.put(ids, attrs.CONVERSATION_ID, conversation_id)
    attrs.put(ids, attrs.SESSION_ID, conversation_id)
    return ids


@dataclass(slots=True)
class ChatStep:
    span: Span
    content: Content
    response: ModelResponse | None = None

    def responded(self, response: ModelResponse) -> None:
        self.response = response
        if self.span.is_recording():
            self.span.set_attributes(attrs.chat_response(response, content=self.content))

    def retrying(self, event: ModelRetrying) -> None:
        """A `RetryListener`: each wait, as a span event."""
        self.span.add_event("model retrying", attrs.model_retrying(event, content=self.content))


@dataclass(frozen=True, slots=True)
class ToolStep:
    recorder: SpanRecorder
    span: Span
    call: ToolCall

    def emit(self, event: Event) -> None:
        """The ``emit`` callback of `agentflow.execution.invoke_tool`."""
        if isinstance(event, PreconditionChecked):
            self.recorder.precondition(event, parent=self.span)

    def finished(self, outcome: ToolOutcome) -> None:
        if self.span.is_recording():
            self.span.set_attributes(attrs.tool_outcome(outcome, content=self.recorder.content))
            if isinstance(outcome, ToolFailed):
                self.span.set_status(Status(StatusCode.ERROR, attrs.failure_description(outcome)))


@dataclass(frozen=True, slots=True)
class VoteStep:
    span: Span
    content: Content

    def accepted(self) -> None:
        self.span.set_attribute(attrs.VOTE_RESULT, "accepted")

    def rejected(self, reason: str) -> None:
        self.span.set_attribute(attrs.VOTE_RESULT, "rejected")
        self.span.set_attribute(attrs.VOTE_REJECTION, self.content.redact(reason))


@dataclass(frozen=True, slots=True)
class MessageStep:
    span: Span

    def replied(self, status: ReplyStatus) -> None:
        self.span.set_attribute(attrs.REPLY_STATUS, status)

    def rejected(self, reason: str = "") -> None:
        """The workflow refused the message before it entered history (``reason`` says why).

        Empty, oversize, or from someone who may not write in the conversation.
        """
        self.span.set_attribute(attrs.REPLY_STATUS, "rejected")
        if reason:
            self.span.set_attribute(attrs.MESSAGE_REJECTION, reason)
