"""``AgentWorkflow``: one conversation, durably (workflow id = conversation id).

User messages arrive as ``send_message`` updates (validated before they enter history) and are
processed one turn at a time by the same sans-IO loop the in-process driver uses: each model
call and each tool call is an activity, and a call that needs approval starts an
``ApprovalWorkflow`` child and waits for it — minutes or days — without holding a worker.
"""

# No ``from __future__ import annotations``: the checking sandbox
# (``workflow_runner(checked=True)``) runs this module again for every conversation it loads,
# and temporalio reads each handler's type hints then; as strings they would be compiled and
# evaluated each time.
import asyncio
import contextlib
import dataclasses
from collections.abc import Generator
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from pydantic_core import to_jsonable_python

    from agentflow.approvals.records import ApprovalResult
    from agentflow.approvals.rules import approval_id as approval_workflow_id
    from agentflow.attachments import check_attachments
    from agentflow.binding import ApprovalDecision, ApprovalRequest
    from agentflow.exceptions import ConfigurationError
    from agentflow.loop import (
        AgentLoop,
        AwaitApprovals,
        CallModel,
        CallTools,
        Effect,
        Finish,
        Limits,
        ToolCall,
        check_sender,
        check_user_message,
        waiting_message,
    )
    from agentflow.messages import Message, ModelRequest, ModelResponse, Usage
    from agentflow.outcomes import ToolFailed, ToolOutcome
    from agentflow.temporal.activities import MAX_TRANSCRIPT_BYTES, AgentActivities
    from agentflow.temporal.contracts import (
        AGENT_WORKFLOW,
        APPROVAL_WORKFLOW,
        REOPEN_QUERY,
        AgentReply,
        AgentWorkflowInput,
        ApprovalWorkflowInput,
        InboundMessage,
        ModelCallInput,
        SendMessage,
        Step,
        StepKind,
        ToolCallInput,
        Transcript,
        WaitForTurn,
    )
    from agentflow.temporal.registry import registered
    from agentflow.temporal.transcripts import (
        MODEL_CONTEXT_QUERY,
        ModelContext,
        TranscriptCursor,
        TranscriptRef,
        TranscriptSize,
        elided,
    )
    from agentflow.temporal.turns import TurnIds, TurnSpan, TurnTracing


MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=("ConfigurationError",),
)
RECENT_REPLIES = 8
"""Final replies a run hands to the next: a caller told ``continued`` finds its reply there."""
LINEAR_HISTORY = "linear-history"
"""The patch after which no activity or child input carries the transcript (model calls get
the new messages only, tools and approvals a bounded window) and a long turn continues as new
between two steps: histories recorded before it replay as they ran."""
UPGRADE_BETWEEN_TURNS = "upgrade-between-turns"
"""The patch that moves a conversation onto its worker deployment's new current version: between
turns, with nothing waiting, it continues as new and the next run starts on that version."""
LOCAL_READ_ONLY_TOOLS = "local-read-only-tools"
"""The patch after which, with ``DurableOptions.local_read_only_tools``, a read-only tool's call
runs as a local activity (a marker in history) instead of an activity."""
BOUNDED_TRANSCRIPT = "bounded-transcript"
"""The patch after which a transcript past `MAX_TRANSCRIPT_BYTES` has its oldest large blocks
elided before a model call (see `agentflow.temporal.transcripts.elided`). Asked only when a
transcript is past the bound, so conversations that never reach it record no marker."""
RUN_ADDED_MESSAGES = "run-added-messages"
"""The patch after which, between turns, a run continues as new once it has added
``continue_as_new_after_messages`` messages (as within a long turn), not once the whole
transcript holds that many: past it, the rule before continued as new after every turn, each
run copying the whole transcript into history twice. Asked only where the two rules differ."""


@workflow.defn(name=AGENT_WORKFLOW)
class AgentWorkflow:
    @workflow.init
    def __init__(self, input: AgentWorkflowInput) -> None:
        self._input = input
        try:
            entry = registered(input.agent)
        except ConfigurationError as exc:
            # An error raised here would fail the workflow *task*, which Temporal retries for
            # ever (and again after every worker restart); run() fails the conversation instead.
            entry = None
            self._unknown_agent: str | None = str(exc)
        else:
            self._unknown_agent = None
        self._tools = entry.agent.tools if entry is not None else {}
        self._limits = entry.agent.limits if entry is not None else Limits()
        self._output = entry.agent.output if entry is not None else None
        self._loop: AgentLoop = (
            entry.agent.new_loop(input.state) if entry is not None else AgentLoop(tools=[])
        )
        self._inbox: list[InboundMessage] = list(input.pending_messages)
        self._next_turn = input.next_turn
        self._replies: dict[int, AgentReply] = {}
        self._finished: dict[int, AgentReply] = {r.turn: r for r in input.recent_replies}
        # (turn, kind, summary, data): made into `Step`s, with their data as JSON, when asked.
        self._steps: list[tuple[int, StepKind, str, dict[str, Any]]] = []
        self._step_offset = input.step_offset
        self._linear_history: bool | None = None
        self._tool_retry = RetryPolicy(
            maximum_attempts=input.options.tool_attempts,
            non_retryable_error_types=["ConfigurationError"],
        )
        self._turn = 0
        self._tracing = TurnTracing()
        self._turn_ids: TurnIds | None = None
        # What the turn has cost and said so far; a turn handed over between two steps brings
        # its own from the previous run.
        self._turn_started_ns = input.turn_started_ns or 0
        self._turn_usage = input.turn_usage
        self._turn_response: ModelResponse | None = None
        self._run_start = len(self._loop.state.messages)
        self._cursor = TranscriptCursor(
            workflow.info().first_execution_run_id,
            self._loop.state.messages,
            input.transcript_epoch,
        )
        self._transcript_size = TranscriptSize()
        self._closed: AgentWorkflowInput | None = None

    # -- handlers ---------------------------------------------------------------------------

    @workflow.update
    async def send_message(self, message: SendMessage) -> AgentReply:
        """Queue a user message; return the reply, or ``awaiting_approval`` while one waits."""
        turn = self._next_turn
        self._next_turn += 1
        self._inbox.append(
            InboundMessage(
                turn=turn,
                text=message.text,
                attachments=message.attachments,
                sender=message.sender,
            )
        )
        await workflow.wait_condition(lambda: turn in self._replies)
        return self._replies[turn]

    @send_message.validator
    def _validate_message(self, message: SendMessage) -> None:
        if self._unknown_agent is not None:
            raise ApplicationError(self._unknown_agent, type="ConversationEnded")
        check_sender(self._input.user, message.sender, self._input.participants)
        check_user_message(message.text, self._limits)
        if message.attachments:
            check_attachments(message.attachments, self._limits)

    @workflow.update
    async def wait_for_turn(self, request: WaitForTurn) -> AgentReply:
        """The final reply of a turn, once it has one (after any approvals)."""
        await workflow.wait_condition(lambda: request.turn in self._finished)
        return self._finished[request.turn]

    @wait_for_turn.validator
    def _validate_wait(self, request: WaitForTurn) -> None:
        if not 1 <= request.turn < self._next_turn:
            raise ValueError(f"there is no turn {request.turn} in this conversation")
        carried = {m.turn for m in self._input.pending_messages} | {self._input.resume_turn}
        carried |= self._finished.keys()
        if request.turn < self._input.next_turn and request.turn not in carried:
            raise ValueError(f"turn {request.turn} finished before this run; see the transcript")

    @workflow.query
    def transcript(self) -> Transcript:
        return Transcript(
            messages=tuple(self._loop.state.messages),
            pending_approvals=self._loop.pending_approvals,
        )

    @workflow.query(name=MODEL_CONTEXT_QUERY)
    def model_context(self) -> ModelContext:
        """The transcript a model call's worker puts back before the messages it was sent."""
        return self._cursor.context(self._loop.state.messages)

    @workflow.query(name=REOPEN_QUERY)
    def reopen_input(self) -> AgentWorkflowInput | None:
        """What the next run starts from, once this one has ended idle (``None`` before).

        Asked of the closed run, and so answered by a worker replaying it: the state stays out
        of the run's result, where it would copy the whole transcript into its history.
        """
        return self._closed

    @workflow.query
    def steps(self, since: int) -> list[Step]:
        """Steps with ``index >= since``, for clients that stream progress by polling."""
        start = max(0, since - self._step_offset)
        return [
            Step(
                index=self._step_offset + i,
                turn=turn,
                kind=kind,
                summary=summary,
                data=to_jsonable_python(data),
            )
            for i, (turn, kind, summary, data) in enumerate(self._steps[start:], start)
        ]

    # -- the conversation -------------------------------------------------------------------

    @workflow.run
    async def run(self, input: AgentWorkflowInput) -> AgentWorkflowInput | None:
        if self._unknown_agent is not None:
            raise ApplicationError(
                self._unknown_agent, type="ConfigurationError", non_retryable=True
            )
        if input.resume_turn is not None:  # handed over between two steps of this turn
            self._turn = input.resume_turn
            if not self._turn_started_ns:
                self._turn_started_ns = workflow.time_ns()
            with self._traced_turn():
                await self._drive(CallModel(self._loop.request()))
            await self._continue_as_new_if_due()
        while await self._next_message():
            message = self._inbox.pop(0)
            await self._run_turn(message)
            await self._continue_as_new_if_due()
        # Idle: end. The next message starts again from the state, which the closed run gives
        # to a query (`reopen_input`); runs closed before carry it as their result.
        self._closed = self._carried(None).model_copy(
            update={"reopened_from": workflow.info().run_id}
        )
        return None

    async def _next_message(self) -> bool:
        """Wait for the next message; ``False`` once the conversation has been idle too long."""
        idle = self._input.options.idle_timeout
        if idle is None or not self._linear():
            await workflow.wait_condition(lambda: bool(self._inbox))
            return True
        try:
            await workflow.wait_condition(lambda: bool(self._inbox), timeout=idle)
        except TimeoutError:
            # A message that came with the timer is in the inbox by now: it is answered.
            await workflow.wait_condition(workflow.all_handlers_finished)
        return bool(self._inbox)

    def _linear(self) -> bool:
        # Asked before every step: the first answer of a run is its answer (temporalio's too).
        if self._linear_history is None:
            self._linear_history = workflow.patched(LINEAR_HISTORY)
        return self._linear_history

    async def _continue_as_new_if_due(self, *, resume_turn: int | None = None) -> None:
        """Continue as new once this run's history is long enough, handing over what waits.

        Between turns (``resume_turn`` None) or between two steps of a turn: then the update
        waiting for the turn's reply is answered ``continued`` and the next run goes on with it.
        """
        upgrade = resume_turn is None and self._upgrade_due()
        if not upgrade and not self._history_due(between_turns=resume_turn is None):
            return
        if self._linear():
            self._hand_over(resume_turn)
        await workflow.wait_condition(workflow.all_handlers_finished)
        with self._tracing.outside():
            workflow.continue_as_new(
                self._carried(resume_turn),
                # Runs are pinned to the build that started them; a new run may move to the
                # current one.
                initial_versioning_behavior=(
                    workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE if upgrade else None
                ),
            )

    def _history_due(self, *, between_turns: bool) -> bool:
        """Whether this run's history is long enough to continue as new.

        Once the run has added the limit's messages (the history it holds, between turns as
        within one), or when Temporal suggests it.
        """
        messages = len(self._loop.state.messages)
        limit = self._input.options.continue_as_new_after_messages
        if messages - self._run_start >= limit or workflow.info().is_continue_as_new_suggested():
            return True
        # Between turns, the rule before the patch counted the whole transcript: its histories
        # continued as new here.
        return between_turns and messages >= limit and not workflow.patched(RUN_ADDED_MESSAGES)

    def _upgrade_due(self) -> bool:
        """Whether to move onto the deployment's new current version now (between turns).

        Nothing may wait: no message queued, no approval pending (a turn that waits for one has
        not finished). Approvals stay on the version that started them and end by their expiry.
        """
        return (
            not self._inbox
            and workflow.info().is_target_worker_deployment_version_changed()
            and workflow.patched(UPGRADE_BETWEEN_TURNS)
        )

    def _carried(self, resume_turn: int | None) -> AgentWorkflowInput:
        """This run's state, as the next run of the conversation starts from it."""
        return self._input.model_copy(
            update={
                "state": self._loop.state,
                "pending_messages": tuple(self._inbox),
                "next_turn": self._next_turn,
                "step_offset": self._step_offset + len(self._steps),
                "resume_turn": resume_turn,
                "turn_started_ns": self._turn_started_ns if resume_turn is not None else None,
                "turn_usage": self._turn_usage if resume_turn is not None else Usage(),
                "transcript_epoch": self._cursor.carried_epoch(self._loop.state.messages),
                "recent_replies": tuple(
                    r for _, r in sorted(self._finished.items()) if not r.continued
                )[-RECENT_REPLIES:],
                "reopened_from": None,
            }
        )

    def _hand_over(self, resume_turn: int | None) -> None:
        """Answer every update still waiting on a turn the next run will carry on."""
        turns = [m.turn for m in self._inbox]
        if resume_turn is not None:
            turns.append(resume_turn)
        for turn in turns:
            handed = AgentReply(turn=turn, status="completed", output="", continued=True)
            self._replies.setdefault(turn, handed)
            self._finished.setdefault(turn, handed)

    async def _run_turn(self, message: InboundMessage) -> None:
        self._turn = message.turn
        self._turn_started_ns = workflow.time_ns()
        self._turn_usage = Usage()
        self._turn_response = None
        self._step("user_message", message.text)
        # The model is called for whoever wrote the message: the owner, or a participant.
        sender = message.sender or self._input.user
        with self._traced_turn():
            await self._drive(
                self._loop.user_message(message.text, message.attachments, sender=sender)
            )

    @contextlib.contextmanager
    def _traced_turn(self) -> Generator[None]:
        """The turn's span context while it runs (see ``agentflow.temporal.turns``)."""
        with self._tracing.turn(workflow.info().workflow_id, self._turn) as ids:
            self._turn_ids = ids
            try:
                yield
            finally:
                self._turn_ids = None

    async def _drive(self, effect: Effect) -> None:
        while True:
            match effect:
                case CallModel(request=request):
                    if self._linear():
                        request = self._bounded(request)
                        await self._continue_as_new_if_due(resume_turn=self._turn)
                    try:
                        response = await workflow.execute_activity_method(
                            AgentActivities.model_call,
                            self._model_input(request),
                            start_to_close_timeout=self._input.options.model_timeout,
                            retry_policy=MODEL_RETRY,
                        )
                    except ActivityError as exc:
                        effect = self._loop.model_failed(_cause(exc))
                        continue
                    self._turn_usage += response.usage
                    self._turn_response = response
                    self._step(
                        "model_call",
                        response.text or ", ".join(c.name for c in response.tool_calls),
                        stop_reason=response.stop_reason,
                        usage=response.usage,
                    )
                    effect = self._loop.model_responded(response)
                    if self._linear():
                        answer = Message(role="assistant", content=response.content)
                        self._cursor.answered(self._loop.state.messages, answer)
                case CallTools(calls=calls):
                    context = self._tools_context(calls)
                    # One side effect at a time, in the model's order (see AgentLoop.batches).
                    outcomes: list[ToolOutcome] = []
                    for batch in self._loop.batches(calls):
                        outcomes += await asyncio.gather(
                            *(self._call_tool(c, context) for c in batch)
                        )
                    effect = self._loop.tools_finished(outcomes)
                case AwaitApprovals(requests=requests):
                    # Start every approval before telling the user, so that whoever reads the
                    # reply can already find (and decide) them.
                    started = [await self._start_approval(r) for r in requests]
                    self._reply(Finish("awaiting_approval", waiting_message(requests)), requests)
                    results = await asyncio.gather(*(self._approval(r, h) for r, h in started))
                    effect = self._loop.approvals_decided(results)
                case Finish():
                    self._reply(effect, ())
                    return

    def _bounded(self, request: ModelRequest) -> ModelRequest:
        """``request``, its transcript (the loop's) elided to `MAX_TRANSCRIPT_BYTES` if past it.

        Bounded here, before each model call, the transcript stays within one payload wherever
        it crosses whole: the input this run continues as new or is reopened with, the
        ``model_context`` and ``transcript`` queries, an approval's input and the first model
        call after the elision (a new epoch: the workers' copies are out of date). Measured a
        message at a time (`TranscriptSize`): only a transcript past the bound is encoded whole.
        """
        state = self._loop.state
        size = self._transcript_size
        messages = elided(state.messages, MAX_TRANSCRIPT_BYTES, keep=state.run_start, size=size)
        if messages is None or not workflow.patched(BOUNDED_TRANSCRIPT):
            return request
        state.messages[:] = messages
        size.restart()
        self._cursor.restart()
        return dataclasses.replace(request, messages=tuple(messages))

    def _model_input(self, request: ModelRequest) -> ModelCallInput:
        if not self._linear():
            return ModelCallInput(agent=self._input.agent, request=request)
        ref, new = self._cursor.split(request.messages)
        slim = dataclasses.replace(request, system="", tools=(), messages=new)
        return ModelCallInput(agent=self._input.agent, request=slim, transcript=_own(ref))

    def _context(self) -> tuple[TranscriptRef | None, tuple[Message, ...]]:
        """The transcript for an approval's rules: named, but for its newest messages.

        Histories recorded before the patch send all of it.
        """
        if self._linear():
            return self._cursor.peek(self._loop.state.messages)
        return None, tuple(self._loop.state.messages)

    def _tools_context(
        self, calls: tuple[ToolCall, ...]
    ) -> tuple[TranscriptRef | None, tuple[Message, ...]]:
        """The transcript for the rules of a turn's calls: named, but for what workers may lack.

        The model's message with the calls is named by its digest where the loop kept it as the
        model sent it (the worker that ran the model call keeps it: `TranscriptCursor.answered`),
        and sent otherwise. A call run as an activity gives what it is sent to its worker, which
        keeps it with the rest (`TranscriptCache`), so the next model call names it instead of
        sending it again; a worker that has not got what a call names asks the conversation.
        Calls that may all run as local activities give their workers nothing to keep, and
        leave the next model call to send it.
        """
        if not self._linear():
            return None, tuple(self._loop.state.messages)
        if all(self._local(read_only=self._tools[c.name].read_only) for c in calls):
            return self._cursor.peek(self._loop.state.messages)
        return self._cursor.split(self._loop.state.messages)

    async def _call_tool(
        self, call: ToolCall, context: tuple[TranscriptRef | None, tuple[Message, ...]]
    ) -> ToolOutcome:
        tool = self._tools[call.name]
        local = self._local(read_only=tool.read_only)
        # A local activity's input stays out of history: it takes the whole transcript, and
        # must not query this workflow for it (the query would wait on the task it runs in).
        known, messages = (None, tuple(self._loop.state.messages)) if local else context
        input = ToolCallInput(
            agent=self._input.agent,
            call=call,
            user=self._input.user,
            messages=messages,
            run_start=self._loop.state.run_start,
            transcript=None if known is None else _own(known),
        )
        options = self._input.options
        retry = self._tool_retry
        try:
            if local:
                result = await workflow.execute_local_activity_method(
                    AgentActivities.tool_call,
                    input,
                    start_to_close_timeout=options.tool_timeout,
                    retry_policy=retry,
                )
            else:
                result = await workflow.execute_activity_method(
                    AgentActivities.tool_call,
                    input,
                    start_to_close_timeout=options.tool_timeout,
                    retry_policy=retry,
                )
            outcome = result.outcome
        except ActivityError as exc:
            outcome = ToolFailed(call_id=call.id, message=f"The tool failed: {_cause(exc)}")
        self._step("tool_call", f"{tool.name}: {outcome.kind}", call=call)
        return outcome

    def _local(self, *, read_only: bool) -> bool:
        """Whether a tool's call runs as a local activity (a read-only tool's, when asked)."""
        return (
            self._input.options.local_read_only_tools
            and read_only
            and workflow.patched(LOCAL_READ_ONLY_TOOLS)
        )

    async def _start_approval(
        self, request: ApprovalRequest
    ) -> tuple[ApprovalRequest, workflow.ChildWorkflowHandle[Any, ApprovalResult]]:
        conversation_id = workflow.info().workflow_id
        approval_id = approval_workflow_id(conversation_id, request.tool_call_id)
        known, messages = self._context()
        self._step(
            "approval_requested",
            ", ".join(request.reasons),
            digest=request.digest,
            approval_id=approval_id,
        )
        handle = await workflow.start_child_workflow(
            APPROVAL_WORKFLOW,
            ApprovalWorkflowInput(
                request=request,
                conversation_id=conversation_id,
                timers=self._input.options.approval,
                agent=self._input.agent,
                messages=messages,
                latest_user_message=self._loop.state.latest_user_message,
                transcript=known,
            ),
            id=approval_id,
            result_type=ApprovalResult,
        )
        return request, handle

    async def _approval(
        self,
        request: ApprovalRequest,
        handle: workflow.ChildWorkflowHandle[Any, ApprovalResult],
    ) -> ApprovalDecision:
        try:
            result = await handle
            # The child decided exactly this request: bind its decision to this conversation
            # and call (a decision recorded before decisions named them is bound here too).
            decision = result.decision.model_copy(
                update={
                    "conversation_id": workflow.info().workflow_id,
                    "tool_call_id": request.tool_call_id,
                }
            )
        except ChildWorkflowError as exc:
            decision = request.decide("expired", reason=f"approval failed: {_cause(exc)}")
        self._step("approval_decided", decision.outcome, **decision.model_dump(mode="json"))
        return decision

    def _reply(self, finish: Finish, approvals: tuple[ApprovalRequest, ...]) -> None:
        value = None
        output = self._output
        if output is not None and finish.status == "completed":
            value = output.dump(finish.value)
        reply = AgentReply(
            turn=self._turn,
            status=finish.status,
            output=finish.output,
            approvals=approvals,
            value=value,
            usage=self._turn_usage,
        )
        self._replies.setdefault(self._turn, reply)
        if finish.status != "awaiting_approval":
            self._finished[self._turn] = reply
            self._step("reply", finish.output, status=finish.status)
            self._record_turn(finish)

    def _record_turn(self, finish: Finish) -> None:
        ids = self._turn_ids
        if ids is None:
            return
        self._tracing.finished(
            TurnSpan(
                agent=self._input.agent,
                conversation_id=workflow.info().workflow_id,
                user=self._input.user,
                turn=self._turn,
                trace_id=ids.trace_id,
                parent_span_id=ids.parent_span_id,
                span_id=ids.span_id,
                trace_flags=ids.trace_flags,
                start_ns=self._turn_started_ns,
                end_ns=workflow.time_ns(),
                status=finish.status,
                usage=self._turn_usage,
                response=self._turn_response,
            )
        )

    def _step(self, kind: StepKind, summary: str, **data: Any) -> None:
        self._steps.append((self._turn, kind, summary, data))


def _own(ref: TranscriptRef) -> TranscriptRef:
    """``ref`` for this run's own activities, without its chain when that is this run.

    The activity knows its run (`TranscriptRef.chain`): the first of its chain, here.
    """
    if ref.chain == workflow.info().run_id:
        return ref.model_copy(update={"chain": ""})
    return ref


def _cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc.message if isinstance(exc, ApplicationError) else str(exc)
