"""Activities: the I/O of durable conversations (model calls, tool calls, approval notices).

Business failures cross into the workflow as values (`ToolCallResult`) or as
non-retryable ``ApplicationError``s; everything else is retried by the activity's policy.

Each model call, tool call (with its precondition decision) and approval notice is recorded as
a span here, in the activity, where it runs once per attempt: workflow code re-runs on replay.

Workflow code calls these activities through `AgentActivities`' methods
(``workflow.execute_activity_method(AgentActivities.model_call, ...)``), so their arguments are
type-checked; the names in ``activity.defn`` are what histories record and must not change.
This module is imported inside the sandbox for that: it loads no SDK client, store or tracer
(the recorder comes in from the worker).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agentflow.approvals.records import ApprovalChannel, ApprovalNotice, Delegation
from agentflow.approvals.rules import approval_id, contract_problem, conversation_of
from agentflow.approvals.signing import VoteKeys
from agentflow.binding import ApprovalDecision, ApprovalRequest
from agentflow.context import RunContext
from agentflow.events import ModelRetrying
from agentflow.exceptions import ApprovalError, ConfigurationError, ModelError
from agentflow.execution import approve_with_edits, invoke_tool
from agentflow.messages import Message, ModelRequest, ModelResponse
from agentflow.models.base import Model
from agentflow.models.deltas import delta_listener
from agentflow.models.retries import retry_listener
from agentflow.outcomes import ToolFailed, ToolOutcome, ToolReturned
from agentflow.temporal.channel import LogChannel
from agentflow.temporal.contracts import (
    ApproverCheck,
    EditCheck,
    ModelCallInput,
    ToolCallInput,
    ToolCallResult,
    VoteCheck,
)
from agentflow.temporal.registry import registered
from agentflow.temporal.transcripts import (
    DEFAULT_CACHED_TRANSCRIPT_BYTES,
    DEFAULT_CACHED_TRANSCRIPTS,
    MODEL_CONTEXT_QUERY,
    ModelContext,
    StaleTranscript,
    TranscriptCache,
    TranscriptRef,
    known_prefix,
)
from agentflow.temporal.turns import derived_span_id

if TYPE_CHECKING:
    from agentflow.audit.recorder import ChatStep, SpanRecorder
    from agentflow.temporal.live import LiveText


PAYLOAD_LIMIT = 2 * 1024 * 1024
"""The largest payload Temporal records by default (the server's ``limit.blobSize.error``; a
worker refuses to send a larger one)."""
MAX_TRANSCRIPT_BYTES = PAYLOAD_LIMIT - 256 * 1024
"""The largest transcript (as JSON) a conversation keeps: past it, its oldest large blocks are
elided (`agentflow.temporal.transcripts.elided`) before the next model call, so that the state a
run continues as new or is reopened with, and the ``model_context`` query's answer, fit in a
payload with room for the rest of the run's input."""
MAX_RESULT_BYTES = MAX_TRANSCRIPT_BYTES - 64 * 1024
"""The largest tool call result (encoded) the tool call activity returns; a larger one is
replaced by a failure the model reads. Below `MAX_TRANSCRIPT_BYTES`, so that the newest answer
is kept whole in the transcript that carries it to the model."""


class DelegationLookup(Protocol):
    """Who stands in for whom, from the application's database (an ``OrgChart`` is one)."""

    def delegation(
        self, delegate: str, approvers: Sequence[str], at: datetime
    ) -> Delegation | None: ...


class AgentActivities:
    """The activities a worker hosts; one instance serves every registered agent."""

    def __init__(
        self,
        channel: ApprovalChannel | None = None,
        *,
        recorder: SpanRecorder,
        org: DelegationLookup | None = None,
        vote_keys: VoteKeys | None = None,
        cached_transcripts: int = DEFAULT_CACHED_TRANSCRIPTS,
        cached_transcript_bytes: int = DEFAULT_CACHED_TRANSCRIPT_BYTES,
        live_text: LiveText | None = None,
    ) -> None:
        """``recorder`` records every step (one on a no-op tracer records nothing).

        ``cached_transcripts`` and ``cached_transcript_bytes`` bound how many conversations'
        transcripts this worker keeps for their next model call, and their content's size
        (see `agentflow.temporal.transcripts`). With ``live_text``, model calls stream and
        write their text there as it comes, for clients to show (see
        `agentflow.temporal.live`); it never enters the workflow's history.
        """
        self.channel: ApprovalChannel = channel or LogChannel()
        self.org = org
        self.vote_keys = vote_keys
        self.recorder = recorder
        self.transcripts = TranscriptCache(cached_transcripts, cached_transcript_bytes)
        self.live_text = live_text
        self._templates: dict[str, ModelRequest] = {}
        """Per agent, a request with its system prompt and tool definitions (as its loop has
        them): what a model call that names its transcript is not sent."""

    @activity.defn(name="agentflow.model_call")
    async def model_call(self, input: ModelCallInput) -> ModelResponse:
        try:
            agent = registered(input.agent).agent
            conversation_id = activity.info().workflow_id
            request = input.request
            ref = input.transcript
            if ref is not None:
                # The loop's request: the agent's prompt and tools, the known messages put back.
                template = self._templates.get(input.agent)
                if template is None:
                    template = self._templates[input.agent] = agent.new_loop().request()
                ref = ref.for_run(activity.info().workflow_run_id or "")
                messages = await self._transcript(conversation_id, ref, request.messages)
                request = dataclasses.replace(
                    request, system=template.system, tools=template.tools, messages=messages
                )
            with self.recorder.chat(
                agent.model, request, agent=input.agent, conversation_id=conversation_id
            ) as step:
                if self.live_text is None or not conversation_id:
                    with retry_listener(step.retrying):
                        response = await agent.model.request(request)
                else:
                    response = await self._streamed(agent.model, request, conversation_id, step)
                step.responded(response)
            if ref is not None and conversation_id:
                answer = Message(role="assistant", content=response.content)
                self.transcripts.answered(conversation_id, ref, request.messages, answer)
            return response
        except ConfigurationError as exc:
            raise ApplicationError(str(exc), type="ConfigurationError", non_retryable=True) from exc
        except ModelError as exc:
            # A model raises ModelError only after the retries it allows (see Model): retrying
            # the activity as well would multiply them. Temporal still retries an attempt
            # that never finished (a worker lost, a timeout).
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc

    async def _streamed(
        self, model: Model, request: ModelRequest, conversation_id: str, step: ChatStep
    ) -> ModelResponse:
        """The model's answer, its text written to the live text as it comes (then deleted).

        The adapter streams because someone listens (see `agentflow.models.deltas`); its
        retries start the text again.
        """
        assert self.live_text is not None
        info = activity.info()
        call = f"{info.workflow_run_id}/{info.activity_id}"
        async with self.live_text.open(conversation_id, call, attempt=info.attempt) as writer:

            def retrying(event: ModelRetrying) -> None:
                writer.restart(event)
                step.retrying(event)

            with delta_listener(writer.add), retry_listener(retrying):
                return await model.request(request)

    async def _transcript(
        self,
        conversation_id: str | None,
        ref: TranscriptRef | None,
        new: tuple[Message, ...],
    ) -> tuple[Message, ...]:
        """The whole transcript: what ``ref`` names, then ``new``.

        What ``ref`` names comes from this worker's cache or from the conversation. Without
        ``ref`` (histories recorded before), ``new`` is all of it.
        """
        if ref is None:
            return new
        if not conversation_id:
            raise ConfigurationError("a call that names its transcript needs its conversation")
        ref = ref.for_run(activity.info().workflow_run_id or "")
        prefix = self.transcripts.prefix(conversation_id, ref)
        if prefix is None:
            handle = activity.client().get_workflow_handle(conversation_id)
            context = await handle.query(MODEL_CONTEXT_QUERY, result_type=ModelContext)
            try:
                prefix = known_prefix(context, ref)
            except StaleTranscript as exc:
                raise ApplicationError(str(exc), type="StaleTranscript") from exc
        messages = (*prefix, *new)
        self.transcripts.store(conversation_id, ref, messages)
        return messages

    @activity.defn(name="agentflow.tool_call")
    async def tool_call(self, input: ToolCallInput) -> ToolCallResult:
        try:
            entry = registered(input.agent)
            tool = entry.agent.tools[input.call.name]
        except (ConfigurationError, KeyError) as exc:
            raise ApplicationError(str(exc), type="ConfigurationError", non_retryable=True) from exc
        conversation_id = input.conversation_id or activity.info().workflow_id or ""
        messages = await self._transcript(conversation_id, input.transcript, input.messages)
        ctx = RunContext(
            deps=entry.deps(),
            user=input.user,
            conversation_id=conversation_id,
            tool_call_id=input.call.id,
            messages=messages,
            latest_user_message=input.latest_user_text(messages),
            approval=input.call.approval,
            sources=entry.agent.sources,
        )
        with self.recorder.tool_call(
            input.call,
            agent=input.agent,
            conversation_id=conversation_id,
            model=entry.agent.model,
            span_id=attempt_span_id(activity.info()) if self.recorder.records else None,
        ) as step:
            outcome = await invoke_tool(
                tool,
                ctx,
                input.call,
                # A precondition's span (and the provenance it shows) only where spans are kept.
                emit=step.emit if self.recorder.records else None,
                raise_errors=entry.agent.raise_tool_errors,
                intents=self.recorder.intents,
            )
            outcome = _recordable(tool.name, outcome)
            step.finished(outcome)
        approval = input.call.approval
        voided = None if approval is None else contract_problem(approval, tool.name, tool.contract)
        if approval is not None and voided is not None:
            await self._tell_voided(input, conversation_id, approval, voided)
        return ToolCallResult(outcome=outcome)

    async def _tell_voided(
        self, input: ToolCallInput, conversation_id: str, approval: ApprovalDecision, reason: str
    ) -> None:
        """Tell the approver (through the approval channel) that their approval was voided.

        The approval workflow has ended, so the notice is sent from here, where the call was
        refused; a retried activity sends it again, and channels take a notice once.
        """
        approvers = (approval.approver,) if approval.approver else ()
        request = ApprovalRequest(
            tool=input.call.name,
            tool_call_id=input.call.id,
            arguments=approval.arguments or input.call.arguments,
            digest=approval.digest,
            requester=input.user,
            conversation_id=conversation_id,
            approvers=approvers,
            contract=approval.contract,
        )
        notice = ApprovalNotice(
            kind="voided",
            workflow_id=approval_id(conversation_id, input.call.id),
            conversation_id=conversation_id,
            request=request,
            approvers=approvers,
            decision=approval,
            reason=reason,
        )
        await self.channel.notify(notice)
        self.recorder.approval_notice(notice)

    @activity.defn(name="agentflow.notify_approval")
    async def notify_approval(self, notice: ApprovalNotice) -> None:
        await self.channel.notify(notice)
        # Recorded once the humans have actually been told.
        self.recorder.approval_notice(notice, since=activity.info().scheduled_time)

    @activity.defn(name="agentflow.check_approver")
    async def check_approver(self, check: ApproverCheck) -> Delegation:
        """The org chart's delegation that lets ``check.employee`` vote now, or a refusal.

        The approval workflow runs this for every vote that claims a delegation, so that who
        stands in for whom comes from the database, never from the vote. A worker without an
        org chart refuses every delegation (fail closed).
        """
        if self.org is None:
            raise _refusal(
                "delegations cannot be verified: this worker has no org chart", "NotAuthorised"
            )
        org = self.org
        delegation = await asyncio.to_thread(
            org.delegation, check.employee, check.approvers, check.at or datetime.now(UTC)
        )
        if delegation is None or delegation.approver == check.requester:
            raise _refusal(
                f"{check.employee} is not an authorised approver for this request", "NotAuthorised"
            )
        return delegation

    @activity.defn(name="agentflow.verify_vote")
    async def verify_vote(self, check: VoteCheck) -> None:
        """Refuse a vote that no approval desk signed for this approval just now.

        A worker without vote keys verifies nothing (it warned at start); one with keys refuses
        an unsigned, unknown-key, altered or stale vote, and records the refusal.
        """
        keys = self.vote_keys
        if keys is None:
            return
        try:
            keys.verify(check.approval_id, check.vote, now=datetime.now(UTC))
        except ApprovalError as exc:
            self.recorder.vote_refused(
                approval_id=check.approval_id,
                conversation_id=conversation_of(check.approval_id),
                person=check.vote.approver,
                approve=check.vote.approve,
                digest=check.vote.digest,
                reason=str(exc),
                channel="temporal",
            )
            raise _refusal(str(exc), "NotAuthorised") from exc

    @activity.defn(name="agentflow.check_edit")
    async def check_edit(self, check: EditCheck) -> ApprovalDecision:
        """The approving decision for the edited call, or a refusal naming the broken rules."""
        try:
            entry = registered(check.agent)
            tool = entry.agent.tools[check.request.tool]
        except (ConfigurationError, KeyError) as exc:
            raise _refusal(f"the edit cannot be checked: {exc}", "EditRefused") from exc
        ctx = RunContext(
            deps=entry.deps(),
            user=check.request.requester,
            conversation_id=check.conversation_id,
            tool_call_id=check.request.tool_call_id,
            messages=await self._transcript(
                check.conversation_id, check.transcript, check.messages
            ),
            latest_user_message=check.latest_user_message,
            sources=entry.agent.sources,
        )
        try:
            return await approve_with_edits(tool, ctx, check.request, check.changes, check.approval)
        except ApprovalError as exc:
            raise _refusal(str(exc), "EditRefused") from exc


def _recordable(tool: str, outcome: ToolOutcome) -> ToolOutcome:
    """``outcome``, or a failure that says why, when its answer is too large to record.

    Temporal refuses a payload over its limit, and a worker checks before it sends one: an
    activity's result over it fails the attempt (retried, the body run again each time); a
    local activity's fails the workflow task that would record its marker, again and again,
    and the conversation never answers. The model gets an answer it can act on instead.
    """
    if not isinstance(outcome, ToolReturned):
        return outcome  # the other outcomes are bounded where they are made
    rough = len(outcome.content) + sum(len(a.data) for a in outcome.attachments)
    if rough * 6 <= MAX_RESULT_BYTES:  # JSON spends at most 6 bytes on a character
        return outcome
    size = activity.payload_converter().to_payload(ToolCallResult(outcome=outcome)).ByteSize()
    if size <= MAX_RESULT_BYTES:
        return outcome
    return ToolFailed(
        call_id=outcome.call_id,
        message=(
            f"{tool} answered with {size:,} bytes, more than a conversation can record "
            f"({MAX_RESULT_BYTES:,}); ask for less."
        ),
        error_type="ResultTooLarge",
        detail=f"the encoded result was {size} bytes",
    )


def attempt_span_id(info: activity.Info) -> int:
    """The span id of one attempt of an activity: the same on whichever worker runs it.

    A local activity runs again when the worker that ran it is lost before its workflow task
    completed (its result never reached history): the next worker runs the same attempt of the
    same activity of the same run. Its tool call span then has the id the lost run's had, so
    the trail shows one call, with what each run recorded under it (each body's intent), and
    not a second call.
    """
    return derived_span_id(f"{info.workflow_run_id}/{info.activity_id}/{info.attempt}")


def _refusal(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)
