"""One trace per conversation across Temporal: the client side of the audit trail.

Temporal's ``TracingInterceptor`` carries a span context from a client call into the workflow
it starts, from the workflow into its activities and child workflows, and it emits workflow
spans only when not replaying. What it cannot know is that a conversation is many client calls
(start, each message, each human decision, possibly from other processes, days apart): each
would start a trace of its own. [`AuditInterceptor`][agentflow.audit.AuditInterceptor] adds that
knowledge:

- starting an ``AgentWorkflow`` opens the conversation's root span (``invoke_agent``), a new
  trace that every later step joins;
- an update or signal to any workflow runs in that workflow's trace: the context is the one the
  workflow was started with, read from the first event of its history (and remembered), so an
  approval decided from Slack, in another process, joins the conversation whose approval
  workflow it ends;
- the updates that matter to an auditor get a span of their own: the user's message (content
  redacted) and each vote on an approval, with who voted and whether it was accepted;
- queries are not traced: they change nothing, and clients poll them;
- each turn of a conversation is an ``invoke_agent`` span that lasts the turn, with its usage,
  status and answer, and the turn's model calls, tool calls and approvals as its descendants:
  the workflow names the span while the turn runs and the worker records it when the turn ends
  (``agentflow.temporal.turns``).

This is Temporal's side of [`agentflow.audit`][]: it records through the audit trail's
`SpanRecorder`, and the audit package knows nothing of Temporal.
[`AuditInterceptor`][agentflow.audit.AuditInterceptor] is importable from [`agentflow.audit`][] as
well.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    MutableMapping,
    Sequence,
)
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NoOpTracer, SpanContext, TraceFlags, TracerProvider
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    FetchWorkflowHistoryEventsInput,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import Interceptor as WorkerInterceptor
from temporalio.worker import WorkflowInterceptorClassInput

from agentflow.approvals.records import ApprovalVote
from agentflow.audit.recorder import SpanRecorder, recorder_for
from agentflow.exceptions import ConfigurationError
from agentflow.temporal.contracts import AgentReply, AgentWorkflowInput, SendMessage
from agentflow.temporal.registry import registered
from agentflow.temporal.turns import TURN_SPAN_EXTERN, TurnSpan

_REMEMBERED = 4096
"""Workflows whose trace context a client keeps in memory (each costs one history read)."""

_HISTORY_TIMEOUT = timedelta(seconds=10)
"""How long reading a workflow's first history event (its trace context) may take."""

Carrier = dict[str, Any]


class AuditInterceptor(TracingInterceptor):
    """Temporal's tracing interceptor, on agentflow's recorder, with conversations as traces.

    Give it to the client (``connect(address, interceptors=[AuditInterceptor(tracing)])``);
    workers built from that client use it too. [`AgentClient`][agentflow.temporal.AgentClient] and
    [`create_worker`][agentflow.temporal.create_worker] add it themselves when given a tracer
    provider.
    """

    def __init__(self, tracer_provider: TracerProvider) -> None:
        self.recorder: SpanRecorder = recorder_for(tracer_provider)
        super().__init__(self.recorder.tracer)
        self._carriers: OrderedDict[str, Carrier] = OrderedDict()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _ConversationOutbound(super().intercept_client(next), untraced=next, root=self)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        # The workflows of this worker hand their finished turns to _record_turn.
        externs = cast(
            MutableMapping[str, Callable[..., Any]],
            input.unsafe_extern_functions,  # pyright: ignore[reportUnknownMemberType]
        )
        externs[TURN_SPAN_EXTERN] = self._record_turn
        return super().workflow_interceptor_class(input)

    def _record_turn(self, turn: TurnSpan) -> None:
        parent = SpanContext(
            turn.trace_id,
            turn.parent_span_id,
            is_remote=True,
            trace_flags=TraceFlags(turn.trace_flags),
        )
        self.recorder.turn(
            agent=turn.agent,
            conversation_id=turn.conversation_id,
            user=turn.user,
            parent=parent,
            span_id=turn.span_id,
            start_ns=turn.start_ns,
            end_ns=turn.end_ns,
            status=turn.status,
            usage=turn.usage,
            response=turn.response,
            model=_model_of(turn.agent),
        )

    def remember(self, workflow_id: str, carrier: Carrier) -> None:
        self._carriers[workflow_id] = carrier
        self._carriers.move_to_end(workflow_id)
        while len(self._carriers) > _REMEMBERED:
            self._carriers.popitem(last=False)

    def remembered(self, workflow_id: str) -> Carrier | None:
        return self._carriers.get(workflow_id)

    async def carrier_of(
        self, workflow_id: str, history: Callable[[], AsyncIterator[HistoryEvent]]
    ) -> Carrier | None:
        """The trace context ``workflow_id`` was started with, remembered or read from history.

        ``history()`` yields the workflow's events; the first one's header carries the context.
        ``None`` for an unknown workflow or one started untraced.
        """
        carrier = self.remembered(workflow_id)
        if carrier is not None:
            return carrier
        try:
            async for event in history():
                header = event.workflow_execution_started_event_attributes.header
                carrier = self.carrier_from(header.fields.get(self.header_key))
                break
        except RPCError:
            # Unknown workflow: the call itself will say so; it just starts no trace of its own.
            return None
        if carrier is not None:
            self.remember(workflow_id, carrier)
        return carrier

    async def trace_context(self, client: Client, workflow_id: str) -> otel_context.Context | None:
        """The context of the trace ``workflow_id`` runs in, for a span recorded outside it.

        This is how a refused decision joins the conversation whose approval it was refused on.
        """

        def history() -> AsyncIterator[HistoryEvent]:
            handle = client.get_workflow_handle(workflow_id)
            return handle.fetch_history_events(
                page_size=1, skip_archival=True, rpc_timeout=_HISTORY_TIMEOUT
            )

        carrier = await self.carrier_of(workflow_id, history)
        return None if carrier is None else self.text_map_propagator.extract(carrier)

    def carrier_from(self, payload: Payload | None) -> Carrier | None:
        if payload is None or not payload.data:
            return None
        carrier = self.payload_converter.from_payloads([payload])[0]
        return carrier if isinstance(carrier, dict) and carrier else None  # pyright: ignore[reportUnknownVariableType]


class _ConversationOutbound(OutboundInterceptor):
    def __init__(
        self, next: OutboundInterceptor, *, untraced: OutboundInterceptor, root: AuditInterceptor
    ) -> None:
        super().__init__(next)
        self._untraced = untraced
        self._root = root

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        start = input.args[0] if input.args else None
        if not isinstance(start, AgentWorkflowInput):
            return await super().start_workflow(input)
        with self._root.recorder.conversation(
            conversation_id=input.id,
            agent=start.agent,
            user=start.user,
            links=_caller_link(),
            model=_model_of(start.agent),
        ):
            handle = await super().start_workflow(input)
        carrier = self._root.carrier_from(input.headers.get(self._root.header_key))
        if carrier is not None:
            self._root.remember(input.id, carrier)
        return handle

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        with self._in_trace_of(await self._carrier(input.id)):
            argument = input.args[0] if input.args else None
            completed = input.wait_for_stage == WorkflowUpdateStage.COMPLETED
            recorder = self._root.recorder
            if isinstance(argument, SendMessage):
                send = functools.partial(super().start_workflow_update, input)
                return await self._sent(input.id, argument, completed, send)
            if isinstance(argument, ApprovalVote):
                with recorder.approval_vote(input.id, argument) as vote:
                    handle = await super().start_workflow_update(input)
                    if completed:
                        try:
                            await handle.result()
                        except WorkflowUpdateFailedError as exc:
                            vote.rejected(_reason(exc))
                        else:
                            vote.accepted()
                    return handle
            return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        """A message that may start its conversation: in the conversation's trace, or a new one.

        A conversation that exists (running, or ended idle and reopened by this call) has a
        trace the message joins, as an update's; one that does not yet is started by the call,
        which opens its root span as `start_workflow` does.
        """
        start_input = input.start_workflow_input
        start = start_input.args[0] if start_input.args else None
        update = input.update_workflow_input
        argument = update.args[0] if update.args else None
        if not isinstance(start, AgentWorkflowInput) or not isinstance(argument, SendMessage):
            return await super().start_update_with_start_workflow(input)
        recorder = self._root.recorder
        completed = update.wait_for_stage == WorkflowUpdateStage.COMPLETED

        send = functools.partial(super().start_update_with_start_workflow, input)

        def sent() -> Awaitable[WorkflowUpdateHandle[Any]]:
            return self._sent(start_input.id, argument, completed, send)

        carrier = await self._carrier(start_input.id)
        if carrier is not None:
            with self._in_trace_of(carrier):
                return await sent()
        with recorder.conversation(
            conversation_id=start_input.id,
            agent=start.agent,
            user=start.user,
            links=_caller_link(),
            model=_model_of(start.agent),
        ):
            handle = await sent()
        carrier = self._root.carrier_from(start_input.headers.get(self._root.header_key))
        if carrier is not None:
            self._root.remember(start_input.id, carrier)
        return handle

    async def _sent(
        self,
        conversation_id: str,
        message: SendMessage,
        completed: bool,
        send: Callable[[], Awaitable[WorkflowUpdateHandle[Any]]],
    ) -> WorkflowUpdateHandle[Any]:
        """``send()`` the user's message under its span.

        Marked replied with the turn's status, or rejected with the reason, once the update has
        completed (if the caller waits for it).
        """
        with self._root.recorder.user_message(
            conversation_id, message.text, message.sender
        ) as step:
            handle = await send()
            if completed:
                try:
                    reply: AgentReply = await handle.result()
                    step.replied(reply.status)
                except WorkflowUpdateFailedError as exc:
                    step.rejected(_reason(exc))
            return handle

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        with self._in_trace_of(await self._carrier(input.id)):
            await super().signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await self._untraced.query_workflow(input)

    async def _carrier(self, workflow_id: str) -> Carrier | None:
        def history() -> AsyncIterator[HistoryEvent]:
            return self._untraced.fetch_workflow_history_events(
                FetchWorkflowHistoryEventsInput(
                    id=workflow_id,
                    run_id=None,
                    page_size=1,
                    next_page_token=None,
                    wait_new_event=False,
                    event_filter_type=WorkflowHistoryEventFilterType.ALL_EVENT,
                    skip_archival=True,
                    rpc_metadata={},
                    rpc_timeout=_HISTORY_TIMEOUT,
                )
            )

        return await self._root.carrier_of(workflow_id, history)

    @contextmanager
    def _in_trace_of(self, carrier: Carrier | None) -> Generator[None]:
        if carrier is None:
            yield
            return
        token = otel_context.attach(self._root.text_map_propagator.extract(carrier))
        try:
            yield
        finally:
            otel_context.detach(token)


def _model_of(agent: str) -> object | None:
    """The registered agent's model (its provider goes on the spans), if this process has it.

    A worker always does; a client that only starts conversations may not.
    """
    try:
        return registered(agent).agent.model
    except ConfigurationError:
        return None


def _caller_link() -> Sequence[Link]:
    caller = trace.get_current_span().get_span_context()
    return [Link(caller)] if caller.is_valid else []


def _reason(exc: WorkflowUpdateFailedError) -> str:
    cause = exc.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or exc)


# -- what AgentClient and create_worker call ------------------------------------------------


def audit_interceptor(client: Client) -> AuditInterceptor | None:
    """The `AuditInterceptor` ``client`` records through, if it has one."""
    found = (i for i in client.config()["interceptors"] if isinstance(i, AuditInterceptor))
    return next(found, None)


def traced_client(client: Client, tracer_provider: TracerProvider) -> Client:
    """``client``, or a client on the same connection with an `AuditInterceptor`."""
    config = client.config()
    if any(isinstance(i, TracingInterceptor) for i in config["interceptors"]):
        return client
    config["interceptors"] = [AuditInterceptor(tracer_provider), *config["interceptors"]]
    return Client(**config)


def worker_tracing(
    client: Client, tracer_provider: TracerProvider | None
) -> tuple[SpanRecorder, list[WorkerInterceptor]]:
    """The recorder for a worker's activities and the interceptors the worker must add.

    A worker inherits its client's interceptors: with an
    [`AuditInterceptor`][agentflow.audit.AuditInterceptor] there, the worker records through it;
    with ``tracer_provider`` given and no tracing interceptor on the client, the worker gets one of
    its own (never two, or every span would be doubled). With neither, the recorder is on a no-op
    tracer: it records nothing and builds no attributes.
    """
    on_client = [i for i in client.config()["interceptors"] if isinstance(i, TracingInterceptor)]
    if tracer_provider is None:
        audit = next((i for i in on_client if isinstance(i, AuditInterceptor)), None)
        return (audit.recorder if audit is not None else SpanRecorder(NoOpTracer())), []
    extra: list[WorkerInterceptor] = [] if on_client else [AuditInterceptor(tracer_provider)]
    return recorder_for(tracer_provider), extra
