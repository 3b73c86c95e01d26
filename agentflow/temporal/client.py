"""The client API every channel uses: start conversations, send messages, answer approvals.

The web app, the CLI and Slack all go through [`AgentClient`][agentflow.temporal.AgentClient]; none
of them talks to the workflows directly, so validation errors come back the same way everywhere.

Temporal's own failures come back as agentflow errors too: an update that times out, or a
server that cannot be reached, raises [`TemporalUnavailable`][agentflow.TemporalUnavailable] with a
one-line message (a client made with ``lazy=True`` first connects on its first call, and so
first fails there). A decision is idempotent by its content: each vote is sent under an update id
derived from it, and a vote retried after a timeout that had in fact landed returns the result
it got then (read from the approval's history), not "already approved". Waits for a turn's reply
are one update per turn (`turn_wait_id`): retried after a timeout, they join it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import uuid
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Coroutine,
    Sequence,
)
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from agentflow.approvals.rules import approval_id as approval_workflow_id
from agentflow.approvals.signing import VoteKeys
from agentflow.binding import canonical_json
from agentflow.events import ModelRetrying, TextDelta
from agentflow.exceptions import (
    ApprovalError,
    ConversationEnded,
    InvalidInput,
    NotParticipant,
    TemporalUnavailable,
)
from agentflow.messages import Attachment
from agentflow.temporal.connection import DEFAULT_TASK_QUEUE
from agentflow.temporal.contracts import (
    REOPEN_QUERY,
    AgentReply,
    AgentWorkflowInput,
    ApprovalResult,
    ApprovalStatus,
    ApprovalVote,
    DurableOptions,
    SendMessage,
    Step,
    Transcript,
    WaitForTurn,
)
from agentflow.temporal.devserver import connect_failure_reason
from agentflow.temporal.health import paused_error
from agentflow.temporal.tracing import traced_client

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from agentflow.temporal.live import LivePiece, LiveText

R = TypeVar("R")
P = ParamSpec("P")
log = logging.getLogger(__name__)


@asynccontextmanager
async def _reaching_temporal() -> AsyncGenerator[None]:
    """A lazy client's failed first connection becomes `TemporalUnavailable`, in one line.

    temporalio raises a bare ``RuntimeError`` carrying the transport's debug dump then.
    """
    try:
        yield
    except RuntimeError as exc:
        if not str(exc).startswith("Failed client connect"):
            raise
        raise TemporalUnavailable(f"cannot reach Temporal: {connect_failure_reason(exc)}") from None


def _pausable(
    method: Callable[Concatenate[AgentClient, str, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[AgentClient, str, P], Coroutine[Any, Any, R]]:
    """Report a workflow whose task keeps failing as paused, in one line.

    A deploy whose code does not replay the workflow leaves its task failing: callers get
    [`WorkflowPaused`][agentflow.WorkflowPaused] instead of Temporal's refusal.

    The method's first argument is the workflow's id (a conversation's or an approval's).
    """

    @functools.wraps(method)
    async def checked(self: AgentClient, workflow_id: str, *args: P.args, **kw: P.kwargs) -> R:
        try:
            return await method(self, workflow_id, *args, **kw)
        except RPCError as exc:
            paused = paused_error(exc, workflow_id)
            if paused is None:
                raise
            raise paused from exc

    return checked


class AgentClient:
    """Conversations and approvals on Temporal, for channels and tests."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = DEFAULT_TASK_QUEUE,
        tracer_provider: TracerProvider | None = None,
        rpc_timeout: timedelta | None = None,
        vote_keys: VoteKeys | None = None,
        live_text: LiveText | None = None,
    ) -> None:
        """``rpc_timeout`` bounds each update call (default: Temporal's, which waits on).

        ``vote_keys`` sign every vote [`decide`][agentflow.temporal.AgentClient.decide] sends
        (default: ``AGENTFLOW_VOTE_KEYS``; see `agentflow.approvals.signing`); hold them only where
        votes are made. ``live_text`` (the workers' own; see `agentflow.temporal.live`) lets
        [`stream`][agentflow.temporal.AgentClient.stream] yield the model's text as it is written.
        """
        if tracer_provider is not None:
            # Conversations become traces in the audit trail (see agentflow.audit).
            client = traced_client(client, tracer_provider)
        self.client = client
        self.task_queue = task_queue
        self.rpc_timeout = rpc_timeout
        self.vote_keys = vote_keys if vote_keys is not None else VoteKeys.from_env()
        self.live_text = live_text

    @_reaching_temporal()
    async def start_conversation(
        self,
        agent: str,
        *,
        user: str | None,
        conversation_id: str | None = None,
        options: DurableOptions | None = None,
        participants: Sequence[str] = (),
    ) -> str:
        """Start an ``AgentWorkflow`` owned by ``user``; returns the conversation id.

        Only ``user`` (and ``participants``) may write in it; ``user=None`` makes a conversation
        anyone may write in.
        """
        conversation_id = conversation_id or f"conv-{uuid.uuid4().hex}"
        await self.client.start_workflow(
            "AgentWorkflow",
            AgentWorkflowInput(
                agent=agent,
                user=user,
                participants=tuple(participants),
                options=options or DurableOptions(),
            ),
            id=conversation_id,
            task_queue=self.task_queue,
        )
        return conversation_id

    @_reaching_temporal()
    @_pausable
    async def send(
        self,
        conversation_id: str,
        text: str,
        *,
        sender: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> AgentReply:
        """Send a message and wait for the reply (``awaiting_approval`` while one waits).

        ``attachments`` (images, PDFs) go with the text, checked before they enter history.

        ``sender`` is who typed it, as the channel authenticated them: a conversation with an
        owner refuses a message from anyone else, or from nobody named
        ([`InvalidInput`][agentflow.InvalidInput]).
        """
        message = SendMessage(text=text, sender=sender, attachments=tuple(attachments))
        return await self._send(conversation_id, message)

    @_reaching_temporal()
    @_pausable
    async def start_or_send(
        self,
        conversation_id: str,
        text: str,
        *,
        agent: str,
        user: str | None,
        options: DurableOptions | None = None,
        participants: Sequence[str] = (),
        attachments: Sequence[Attachment] = (),
    ) -> AgentReply:
        """``user``'s message to ``conversation_id``, started first if it does not exist yet.

        One update-with-start, atomic on Temporal: a conversation that does not exist starts
        (as [`start_conversation`][agentflow.temporal.AgentClient.start_conversation] would, with
        ``agent``, ``options`` and ``participants``) with the message in its first workflow task,
        and one that runs takes it as [`send`][agentflow.temporal.AgentClient.send] would; two
        first messages at once land in one conversation, where a check for an owner followed by
        a start lets both start, and the second fail. A channel that keys conversations by who is
        typing (one per Slack user) sends every message this way, in one round trip.

        The message is from ``user``: a running conversation owned by someone else refuses it
        ([`NotParticipant`][agentflow.NotParticipant]) and is not changed. A conversation that
        ended idle is reopened from its state, as `send` reopens it, never started afresh, and
        one that ended otherwise raises [`ConversationEnded`][agentflow.ConversationEnded].
        """
        message = SendMessage(text=text, sender=user, attachments=tuple(attachments))
        start = AgentWorkflowInput(
            agent=agent,
            user=user,
            participants=tuple(participants),
            options=options or DurableOptions(),
        )
        return await self._send(conversation_id, message, start)

    async def _send(
        self, conversation_id: str, message: SendMessage, start: AgentWorkflowInput | None = None
    ) -> AgentReply:
        """Send ``message``, reopening a conversation that ended idle; with ``start``, start it.

        The one path of `send` and `start_or_send`: a start never reuses the id of a closed
        conversation (its transcript would be lost), it reopens it.
        """
        handle = self._conversation(conversation_id)
        try:
            try:
                if start is None:
                    reply = await self._update(handle, "send_message", message, AgentReply)
                else:
                    started = await self._with_start(
                        conversation_id,
                        message,
                        start,
                        self.task_queue,
                        WorkflowUpdateStage.COMPLETED,
                        WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    )
                    reply = cast(AgentReply, await started.result(rpc_timeout=self.rpc_timeout))
            except (WorkflowAlreadyStartedError, RPCError) as exc:
                # A closed conversation refuses the update, and the start (a running one takes
                # the message): it is reopened.
                if isinstance(exc, RPCError) and not _closed(exc):
                    raise
                reopened = await self._reopened(handle, message)
                reply = cast(AgentReply, await reopened.result(rpc_timeout=self.rpc_timeout))
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == NotParticipant.__name__:
                raise NotParticipant(_reason(exc)) from exc
            if isinstance(cause, ApplicationError) and cause.type == ConversationEnded.__name__:
                raise ConversationEnded(f"{conversation_id} has ended: {_reason(exc)}") from exc
            raise InvalidInput(_reason(exc)) from exc
        return await self._followed(conversation_id, reply)

    @_reaching_temporal()
    @_pausable
    async def submit(
        self, conversation_id: str, text: str, *, sender: str | None = None, wait: float = 0.25
    ) -> None:
        """Hand ``sender``'s message to the conversation; return once it is accepted, not answered.

        The ``send_message`` validator refuses what may not enter (empty, too long, a stranger's)
        before anything reaches history, and a refused update completes at once: waiting up to
        ``wait`` seconds for the outcome tells a refusal ([`InvalidInput`][agentflow.InvalidInput])
        from an acceptance without waiting for the reply, which the caller follows with
        [`steps`][agentflow.temporal.AgentClient.steps] and `transcript`.
        [`TemporalUnavailable`][agentflow.TemporalUnavailable] when Temporal does not say whether it
        took the message; other RPC errors (e.g. a closed conversation) are raised as is.
        """
        handle = self._conversation(conversation_id)
        message = SendMessage(text=text, sender=sender)
        try:
            try:
                # The by-name overload's ``args`` parameter is unknown to pyright.
                update = await handle.start_update(  # pyright: ignore[reportUnknownMemberType]
                    "send_message",
                    message,
                    wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                    rpc_timeout=self.rpc_timeout,
                )
            except RPCError as exc:
                if not _closed(exc):
                    raise
                update = await self._reopened(handle, message, WorkflowUpdateStage.ACCEPTED)
        except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
            if isinstance(exc.__cause__, asyncio.CancelledError):
                raise exc.__cause__ from None  # the caller cancelled: not Temporal's failure
            raise TemporalUnavailable(
                f"Temporal did not answer the send_message update on {conversation_id} in time"
            ) from exc
        outcome = asyncio.ensure_future(update.result())
        outcome.add_done_callback(self._seen)
        done, _ = await asyncio.wait({outcome}, timeout=wait)
        if not done:
            outcome.cancel()  # accepted, and the agent is still answering
            return
        try:
            outcome.result()
        except WorkflowUpdateFailedError as exc:
            raise InvalidInput(_reason(exc)) from exc
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            return  # accepted; the reply is the caller's to follow

    async def _reopened(
        self,
        handle: WorkflowHandle[Any, Any],
        message: SendMessage,
        stage: WorkflowUpdateStage = WorkflowUpdateStage.COMPLETED,
    ) -> WorkflowUpdateHandle[Any]:
        """Send ``message`` to a conversation that ended idle, starting it again where it was.

        Update-with-start: of two messages racing to reopen it, one starts the new run and the
        other joins it. [`ConversationEnded`][agentflow.ConversationEnded] when it ended otherwise.
        """
        description = await handle.describe()
        if description.status == WorkflowExecutionStatus.RUNNING:  # reopened meanwhile
            # The by-name overload's ``args`` parameter is unknown to pyright.
            return await handle.start_update(  # pyright: ignore[reportUnknownMemberType]
                "send_message", message, wait_for_stage=stage, rpc_timeout=self.rpc_timeout
            )
        carried = await self._reopen_input(handle.id, description.run_id)
        if carried is None:
            raise ConversationEnded(f"{handle.id} has ended: {await _end_of(handle)}")
        return await self._with_start(
            handle.id,
            message,
            carried,
            description.task_queue,
            stage,
            WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

    async def _with_start(
        self,
        conversation_id: str,
        message: SendMessage,
        start: AgentWorkflowInput,
        task_queue: str,
        stage: WorkflowUpdateStage,
        reuse: WorkflowIDReusePolicy,
    ) -> WorkflowUpdateHandle[Any]:
        """Send ``message`` to the running conversation, or start it from ``start`` with it.

        Update-with-start, the one for a conversation that ended idle and for one that does not
        exist yet: a running workflow takes the message (whoever started it), else ``reuse``
        says whether a closed one's id may start again.
        """
        operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            "AgentWorkflow",
            start,
            id=conversation_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=reuse,
        )
        try:
            try:
                return await self.client.start_update_with_start_workflow(  # pyright: ignore[reportUnknownMemberType]
                    "send_message",
                    message,
                    start_workflow_operation=operation,
                    wait_for_stage=stage,
                    result_type=AgentReply,
                    rpc_timeout=self.rpc_timeout,
                )
            finally:
                # The operation keeps the start's failure too (a closed conversation's id):
                # raised here, it is retrieved there, so asyncio does not log it as lost.
                started = operation._workflow_handle  # pyright: ignore[reportPrivateUsage]
                if started.done():
                    self._seen(started)
        except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
            if isinstance(exc.__cause__, asyncio.CancelledError):
                raise exc.__cause__ from None
            raise TemporalUnavailable(
                f"Temporal did not answer the send_message update on {conversation_id} in time"
            ) from exc
        except RPCError as exc:
            if exc.status in _UNREACHABLE:
                raise TemporalUnavailable(f"cannot reach Temporal: {exc.message}") from exc
            raise

    async def _reopen_input(
        self, conversation_id: str, run_id: str | None
    ) -> AgentWorkflowInput | None:
        """The input the next run of a conversation that ended idle starts from.

        ``None`` when the run ended otherwise (failed, terminated). A run closed idle completes
        with no result and answers the ``reopen_input`` query (a worker replays it); runs closed
        before carry the input as their result.
        """
        closed = self.client.get_workflow_handle(conversation_id, run_id=run_id)
        try:
            carried: object = await closed.result(follow_runs=False)
        except (WorkflowFailureError, RPCError):
            return None
        if carried is None:
            carried = await closed.query(REOPEN_QUERY, result_type=AgentWorkflowInput)
        if isinstance(carried, dict):  # the handle knows no result type: decoded as JSON
            carried = AgentWorkflowInput.model_validate(carried)
        return carried if isinstance(carried, AgentWorkflowInput) else None

    @staticmethod
    def _seen(outcome: asyncio.Future[Any]) -> None:
        """Marks a dropped wait's outcome as retrieved, so asyncio does not log it as lost."""
        if not outcome.cancelled():
            outcome.exception()

    async def stream(
        self,
        conversation_id: str,
        text: str,
        *,
        sender: str | None = None,
        poll_interval: float = 0.2,
        live_interval: float = 0.05,
    ) -> AsyncGenerator[Step | TextDelta | ModelRetrying | AgentReply]:
        """Send a message and yield each step as it happens, then the reply.

        With `live_text`, the model's text comes too, as it is written: each model call's
        `TextDelta` events come before its ``model_call`` step, and
        a `ModelRetrying` says that the call's text starts again.
        They are read every ``live_interval`` seconds, steps every ``poll_interval``. Text
        that is missed (the stream is off, or the call was quicker than a read) is in the
        steps and the reply all the same.
        """
        handle = self._conversation(conversation_id)
        # Step indexes run on across continue-as-new: start after the last one, whichever run
        # holds it, not at this run's count.
        async with _reaching_temporal():
            current = await self._latest_steps(conversation_id, 0)
        if current:
            seen = current[-1].index + 1
        else:
            seen = (await self._run_origin(conversation_id, (await handle.describe()).run_id))[1]
        live = _LiveReader(self.live_text, conversation_id)
        await live.start()
        reply_task = asyncio.create_task(self.send(conversation_id, text, sender=sender))
        loop = asyncio.get_running_loop()
        try:
            while True:
                done = reply_task.done()
                pieces = [] if done else await live.read()
                if live.new_call(pieces) or done or loop.time() >= live.steps_due:
                    # A new call starts once the workflow has recorded what came before it:
                    # those steps go first. Polls ask the latest run; the last one pages back,
                    # in case the turn ended with a continue-as-new the poll before missed.
                    steps = (
                        await self.steps(conversation_id, seen)
                        if done
                        else await self._latest_steps(conversation_id, seen)
                    )
                    if steps and steps[0].index > seen:
                        # The latest run starts past what was yielded: the run it continued
                        # from recorded more after the poll before.
                        steps = await self.steps(conversation_id, seen)
                    live.steps_due = loop.time() + poll_interval
                    for step in steps:
                        seen = step.index + 1
                        yield step
                for event in live.events(pieces):
                    yield event
                if done:
                    yield reply_task.result()
                    return
                wait = live_interval if live.on else poll_interval
                await asyncio.wait({reply_task}, timeout=wait)
        finally:
            if not reply_task.done():
                reply_task.cancel()

    @_pausable
    async def _latest_steps(self, conversation_id: str, since: int) -> list[Step]:
        """The latest run's steps from ``since`` (see `steps` for every run's)."""
        handle = self._conversation(conversation_id)
        return await handle.query("steps", since, result_type=list[Step])

    @_reaching_temporal()
    @_pausable
    async def wait_for_turn(self, conversation_id: str, turn: int) -> AgentReply:
        """The final reply of ``turn``, once its approvals are decided and the agent answered."""
        reply = await self._update(
            self._conversation(conversation_id),
            "wait_for_turn",
            WaitForTurn(turn=turn),
            AgentReply,
            id=turn_wait_id(turn),
        )
        return await self._followed(conversation_id, reply)

    async def _followed(self, conversation_id: str, reply: AgentReply) -> AgentReply:
        """``reply``, or if its turn went on in the conversation's next run, the reply there."""
        while reply.continued:
            # The run that handed the turn over may not have closed yet: it answers
            # ``continued`` again until it has.
            await asyncio.sleep(_HANDOVER_POLL)
            reply = await self._update(
                self._conversation(conversation_id),
                "wait_for_turn",
                WaitForTurn(turn=reply.turn),
                AgentReply,
                id=turn_wait_id(reply.turn),
            )
        return reply

    @_reaching_temporal()
    @_pausable
    async def transcript(self, conversation_id: str) -> Transcript:
        return await self._conversation(conversation_id).query("transcript", result_type=Transcript)

    @_reaching_temporal()
    @_pausable
    async def steps(self, conversation_id: str, since: int = 0) -> list[Step]:
        """Steps with ``index >= since``, those of runs before a continue-as-new included.

        Each run answers for its own steps (a closed run's query is answered by a worker
        replaying it) and starts at the index its input carries, so earlier runs are asked only
        when ``since`` lies before the run that was asked last.
        """
        run_id: str | None = (await self._conversation(conversation_id).describe()).run_id
        found: list[Step] = []
        while run_id:
            previous, offset = await self._run_origin(conversation_id, run_id)
            handle = self.client.get_workflow_handle(conversation_id, run_id=run_id)
            found = await handle.query("steps", since, result_type=list[Step]) + found
            if since >= offset:
                break
            run_id = previous
        return found

    async def _run_origin(self, conversation_id: str, run_id: str) -> tuple[str | None, int]:
        """The run this one continued from, and its first step.

        As new, or reopened after it ended idle; ``None``: the first.
        """
        started = await self._started(conversation_id, run_id)
        if started is None:
            return None, 0
        start, previous = started
        return previous or start.reopened_from, start.step_offset

    @_reaching_temporal()
    async def conversation_owner(self, conversation_id: str) -> str | None:
        """Who started the conversation (its ``user``), from the workflow's own start event.

        ``None`` when there is no such workflow, when it is not a conversation, or when it was
        started without a user. Read from history, so it holds for conversations started from
        any channel; it never changes, so callers may cache it.
        """
        try:
            started = await self._started(conversation_id)
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                return None
            raise
        return None if started is None else started[0].user

    async def _started(
        self, conversation_id: str, run_id: str | None = None
    ) -> tuple[AgentWorkflowInput, str | None] | None:
        """A run's start input and the run it continued as new from: the one start decoder.

        ``run_id`` ``None`` reads the latest run. ``None`` when the workflow is not an
        ``AgentWorkflow`` (or has no history).
        """
        handle = self.client.get_workflow_handle(conversation_id, run_id=run_id)
        async for event in handle.fetch_history_events(page_size=1):
            started = event.workflow_execution_started_event_attributes
            if started.workflow_type.name != "AgentWorkflow":
                return None
            (start,) = await self.client.data_converter.decode(
                started.input.payloads, [AgentWorkflowInput]
            )
            return cast(AgentWorkflowInput, start), started.continued_execution_run_id or None
        return None

    @_reaching_temporal()
    async def pending_approvals(
        self, conversation_id: str | None = None
    ) -> list[tuple[str, ApprovalStatus]]:
        """Approvals still waiting for a decision, with their approval ids.

        For one conversation the answer is exact (asked of the conversation itself); across all
        conversations it comes from Temporal's visibility store, which may lag by a moment.
        """
        if conversation_id is not None:
            transcript = await self.transcript(conversation_id)
            ids = [
                approval_workflow_id(conversation_id, r.tool_call_id)
                for r in transcript.pending_approvals
            ]
        else:
            query = 'WorkflowType = "ApprovalWorkflow" AND ExecutionStatus = "Running"'
            ids = [
                execution.id
                async for execution in self.client.list_workflows(query)
                if execution.status == WorkflowExecutionStatus.RUNNING
            ]
        found: list[tuple[str, ApprovalStatus]] = []
        for approval_id in ids:
            status = await self.approval_status(approval_id)
            if status.state == "pending":
                found.append((approval_id, status))
        return found

    @_reaching_temporal()
    @_pausable
    async def approval_status(self, approval_id: str) -> ApprovalStatus:
        handle = self.client.get_workflow_handle(approval_id)
        return await handle.query("status", result_type=ApprovalStatus)

    @_reaching_temporal()
    @_pausable
    async def approval_outcome(self, approval_id: str) -> ApprovalResult:
        """The approval's final result, once its channel has been told (waits until then).

        The approval workflow ends only after its channel took the outcome (the ledger records
        it there), so a caller that reads the ledger after this reads the decision.
        """
        handle = self.client.get_workflow_handle(approval_id, result_type=ApprovalResult)
        return await handle.result()

    @_reaching_temporal()
    async def decide(self, approval_id: str, vote: ApprovalVote) -> ApprovalResult:
        """Approve or deny.

        Raises [`ApprovalError`][agentflow.ApprovalError] for a decision the workflow refuses (wrong
        approver, other digest, already decided); nothing is changed then. Sending the same vote
        again returns the result it got the first time.
        """
        handle = self.client.get_workflow_handle(approval_id)
        if self.vote_keys is not None and vote.signature is None:
            vote = self.vote_keys.sign(approval_id, vote, now=datetime.now(UTC))
        try:
            return await self._update(handle, "decide", vote, ApprovalResult, id=vote_id(vote))
        except WorkflowUpdateFailedError as exc:
            refused = exc
        except TemporalUnavailable as exc:
            landed = await self._landed(approval_id, vote)
            if landed is not None:
                return landed
            raise TemporalUnavailable(
                f"Temporal did not confirm the decision on {approval_id} in time; it may still "
                "be recorded: read the approval's status before deciding again"
            ) from exc
        except RPCError as exc:
            paused = paused_error(exc, approval_id)
            if paused is not None:
                raise paused from exc
            # A closed approval no longer accepts updates; say why in the validator's words.
            landed = await self._landed(approval_id, vote)
            if landed is not None:
                return landed
            try:
                state = (await self.approval_status(approval_id)).state
            except RPCError:
                raise ApprovalError(
                    f"approval {approval_id} cannot be decided: {exc.message}"
                ) from exc
            raise ApprovalError(f"this approval is already {state}") from exc
        # Refused now; but if this very vote landed before (a retry after a timeout), its
        # result then is the truthful answer.
        landed = await self._landed(approval_id, vote)
        if landed is not None:
            return landed
        raise ApprovalError(_reason(refused)) from refused

    async def _landed(self, approval_id: str, vote: ApprovalVote) -> ApprovalResult | None:
        """The result ``vote`` got if the approval's history holds it as accepted and completed."""
        handle = self.client.get_workflow_handle(approval_id)
        converter = self.client.data_converter
        mine: set[str] = set()
        try:
            async for event in handle.fetch_history_events():
                if event.HasField("workflow_execution_update_accepted_event_attributes"):
                    request = event.workflow_execution_update_accepted_event_attributes
                    update = request.accepted_request
                    if update.input.name != "decide":
                        continue
                    (sent,) = await converter.decode(update.input.args.payloads, [ApprovalVote])
                    if sent == vote:
                        mine.add(update.meta.update_id)
                elif event.HasField("workflow_execution_update_completed_event_attributes"):
                    completed = event.workflow_execution_update_completed_event_attributes
                    if completed.meta.update_id in mine and completed.outcome.HasField("success"):
                        payloads = completed.outcome.success.payloads
                        (result,) = await converter.decode(payloads, [ApprovalResult])
                        return cast(ApprovalResult, result)
        except RPCError:
            return None  # no such approval, or no answer: the caller reports its own error
        return None

    async def _update(
        self,
        handle: WorkflowHandle[Any, Any],
        name: str,
        arg: Any,
        result_type: type[R],
        *,
        id: str | None = None,
    ) -> R:
        """Run an update; Temporal's timeouts and connection errors become agentflow's."""
        try:
            # The by-name overload's ``args`` parameter is unknown to pyright.
            result = await handle.execute_update(  # pyright: ignore[reportUnknownMemberType]
                name, arg, result_type=result_type, id=id, rpc_timeout=self.rpc_timeout
            )
        except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
            if isinstance(exc.__cause__, asyncio.CancelledError):
                raise exc.__cause__ from None  # the caller cancelled: not Temporal's failure
            raise TemporalUnavailable(
                f"Temporal did not answer the {name} update on {handle.id} in time"
            ) from exc
        except RPCError as exc:
            if exc.status in _UNREACHABLE:
                raise TemporalUnavailable(f"cannot reach Temporal: {exc.message}") from exc
            raise
        return cast(R, result)

    def _conversation(self, conversation_id: str) -> WorkflowHandle[object, object]:
        return self.client.get_workflow_handle(conversation_id)


_HANDOVER_POLL = 0.05


class _LiveReader:
    """The live text of one conversation, as `AgentClient.stream` turns it into events.

    Off without a live text, or once reading it fails: the stream goes on with steps only.
    """

    def __init__(self, live: LiveText | None, conversation_id: str) -> None:
        self.live = live
        self.conversation_id = conversation_id
        self.after = 0
        self.call: tuple[str, int, int] | None = None
        """The call under way, its attempt and its restart, as the last piece read names them."""
        self.ended: set[str] = set()
        self.steps_due = 0.0

    @property
    def on(self) -> bool:
        return self.live is not None

    async def start(self) -> None:
        """Skip what was written before this message (a lost worker's leftovers)."""
        self.after = await self._guarded(lambda live: live.last_id(self.conversation_id), 0)

    async def read(self) -> list[LivePiece]:
        pieces = await self._guarded(lambda live: live.read(self.conversation_id, self.after), [])
        if pieces:
            self.after = pieces[-1].id
        # A call that gave way to another has ended: what a slow write leaves of it is old.
        return [p for p in pieces if p.call not in self.ended]

    def new_call(self, pieces: list[LivePiece]) -> bool:
        return any(self.call is None or p.call != self.call[0] for p in pieces)

    def events(self, pieces: list[LivePiece]) -> list[TextDelta | ModelRetrying]:
        found: list[TextDelta | ModelRetrying] = []
        for piece in pieces:
            key = (piece.call, piece.attempt, piece.restart)
            if self.call is not None and key != self.call:
                if piece.call != self.call[0]:
                    self.ended.add(self.call[0])
                elif key < self.call:
                    continue  # an earlier attempt's last write, after the retry's first
                else:
                    restarts = piece.restart if piece.attempt == self.call[1] else piece.attempt
                    found.append(
                        ModelRetrying(
                            attempt=restarts,
                            delay_s=0.0,
                            error="the model call started again",
                        )
                    )
            self.call = key
            found.append(TextDelta(text=piece.text))
        return found

    async def _guarded(self, read: Callable[[LiveText], Awaitable[R]], default: R) -> R:
        if self.live is None:
            return default
        try:
            return await read(self.live)
        except Exception as exc:  # the text is a show: whatever breaks it, steps go on
            log.warning("live text is off for %s: %s", self.conversation_id, exc)
            self.live = None
            return default


_UNREACHABLE = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED})


def vote_id(vote: ApprovalVote) -> str:
    """The update id of a vote: the same vote, sent twice, is one update to Temporal.

    The signature is left out: each sending is signed anew.
    """
    decided = vote.model_dump(mode="json", exclude={"signature"})
    digest = hashlib.sha256(canonical_json(decided).encode()).hexdigest()
    return f"vote-{digest[:40]}"


def turn_wait_id(turn: int) -> str:
    """The update id of every wait for ``turn``'s reply in a run: one update, however many wait.

    A retry after the RPC deadline (a loaded worker had not taken the update yet), a second
    channel or a reconnecting chat joins the update already admitted, which Temporal answers
    without the worker, instead of adding one more for the worker to take. The reply of a turn
    does not change once given, so a later wait on the same run gets the same answer.
    """
    return f"wait-for-turn-{turn}"


async def _end_of(handle: WorkflowHandle[Any, Any]) -> str:
    """Why a workflow that no longer takes updates ended, in a few words."""
    try:
        await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:
        cause = exc.cause
        return cause.message if isinstance(cause, ApplicationError) else str(cause)
    except RPCError as exc:
        return exc.message
    return "it completed"


def _closed(exc: RPCError) -> bool:
    """The update found its workflow closed, or closing.

    It was not accepted, so it may be sent again, to the conversation's next run.
    """
    return exc.status == RPCStatusCode.NOT_FOUND and (
        "already completed" in exc.message or "aborted by closing workflow" in exc.message
    )


def _reason(exc: WorkflowUpdateFailedError) -> str:
    cause = exc.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
