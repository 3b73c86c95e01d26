"""``Agent``: an agent definition plus the in-process asyncio driver of the loop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, overload

from agentflow.binding import ApprovalDecision, ApprovalRequest
from agentflow.context import DepsT, RunContext
from agentflow.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    EventHandler,
    ModelCalled,
    ModelFailed,
    RunFinished,
    TextDelta,
    ToolExecuted,
)
from agentflow.exceptions import ApprovalError, ConfigurationError, ModelError
from agentflow.execution import approve_with_edits, invoke_tool
from agentflow.intent import IntentLog
from agentflow.loop import (
    AgentLoop,
    AwaitApprovals,
    CallModel,
    CallTools,
    Effect,
    Finish,
    Limits,
    LoopState,
    ToolCall,
    waiting_message,
)
from agentflow.messages import Attachment, ModelSettings, ToolChoice
from agentflow.models.base import Model
from agentflow.models.deltas import delta_listener
from agentflow.models.names import infer_model
from agentflow.models.retries import retry_listener
from agentflow.output import OutputSpec, OutputT
from agentflow.preconditions import Precondition
from agentflow.provenance import SourceLabels
from agentflow.provenance_rules import with_default_rule
from agentflow.result import NO_OUTPUT, RunResult
from agentflow.tools import Tool

ApprovalHandler = Callable[[ApprovalRequest], Awaitable[ApprovalDecision]]
"""Asks a human (or a test) to decide; without one, a run pauses at ``awaiting_approval``."""


class Agent(Generic[DepsT, OutputT]):
    """A model, a system prompt, tools and limits. Runs in-process here, durably on Temporal.

    Args:
        model: what answers: a [`Model`][agentflow.Model], or its name as a
            ``"provider:model"`` string (``"anthropic:claude-sonnet-5"``, ``"openai:gpt-5"``,
            several separated by commas for a fallback; see `agentflow.models.names`).
        tools: the tools the model may call; their preconditions always apply.
        system: the system prompt.
        limits: bounds on each run.
        tool_choice: ``auto``, ``any``, ``none`` or a tool name.
        event_handlers: observers called with every step (audit trail, UI).
        name: what the agent is known by outside this process: a durable conversation is
            started with it (``AgentClient.start_conversation(name, ...)``, ``agentflow chat``),
            a worker refuses two different agents of one name on a task queue, and the audit
            trail records each run under it (``invoke_agent <name>``). Give each agent its own;
            the default is ``"agent"``.
        raise_tool_errors: let an unexpected exception from a tool body (or a precondition)
            propagate out of the run instead of becoming an error result for the model.
        output_type: the type of the final answer (``RunResult.output``). Anything but ``str``
            is asked of the model as a call of the ``final_result`` tool and validated; a bad
            answer goes back to the model with the validation errors, within
            ``limits.max_retries`` (see `agentflow.output`).
        write_policy: a rule every side-effecting tool must also pass, such as
            ``not_from_untrusted()``: no argument of a write may come only from untrusted tool
            output. A tool with a provenance rule of its own (naming the arguments that matter
            to it) keeps that rule instead; see `agentflow.provenance_rules`.
        settings: how the model samples (temperature, top_p, stop sequences); the longest
            answer is ``limits.max_response_tokens``.
    """

    @overload
    def __init__(
        self,
        model: Model | str,
        *,
        tools: Sequence[Tool[DepsT]] = (),
        system: str = "",
        limits: Limits | None = None,
        tool_choice: ToolChoice = "auto",
        event_handlers: Sequence[EventHandler] = (),
        name: str = "agent",
        raise_tool_errors: bool = False,
        write_policy: Precondition | None = None,
        settings: ModelSettings | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        model: Model | str,
        *,
        tools: Sequence[Tool[DepsT]] = (),
        system: str = "",
        limits: Limits | None = None,
        tool_choice: ToolChoice = "auto",
        event_handlers: Sequence[EventHandler] = (),
        name: str = "agent",
        raise_tool_errors: bool = False,
        write_policy: Precondition | None = None,
        settings: ModelSettings | None = None,
        output_type: type[OutputT],
    ) -> None: ...

    def __init__(
        self,
        model: Model | str,
        *,
        tools: Sequence[Tool[DepsT]] = (),
        system: str = "",
        limits: Limits | None = None,
        tool_choice: ToolChoice = "auto",
        event_handlers: Sequence[EventHandler] = (),
        name: str = "agent",
        raise_tool_errors: bool = False,
        write_policy: Precondition | None = None,
        settings: ModelSettings | None = None,
        output_type: type[Any] = str,
    ) -> None:
        names = [t.name for t in tools]
        output = None if output_type is str else OutputSpec[Any](output_type)
        if output is not None:
            names.append(output.name)
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ConfigurationError(f"duplicate tool names: {', '.join(sorted(duplicates))}")
        if write_policy is not None:
            tools = [with_default_rule(t, write_policy) for t in tools]
        self.model = infer_model(model)
        self.tools = {t.name: t for t in tools}
        self.system = system
        self.limits = limits or Limits()
        self.tool_choice: ToolChoice = tool_choice
        self.settings = settings or ModelSettings()
        self.event_handlers = tuple(event_handlers)
        self.intents = next((h for h in self.event_handlers if isinstance(h, IntentLog)), None)
        """The audit trail's intent log, when a handler is one (an ``AuditHandler``): every tool
        body then runs only once the record of its call is stored (`agentflow.intent`)."""
        self.name = name
        self.raise_tool_errors = raise_tool_errors
        self.output: OutputSpec[OutputT] | None = output
        """How a structured answer is asked for and checked; ``None`` for a ``str`` agent."""
        self.sources = SourceLabels(
            system=system, trusted_tools=frozenset(t.name for t in tools if t.trusted_output)
        )
        """How values are labelled for provenance: this agent's system prompt and trusted tools."""
        self._spent: set[str] = set()
        """Approvals this agent has accepted (see `spend_approvals`): one use each."""

    def new_loop(self, state: LoopState | None = None) -> AgentLoop:
        return AgentLoop(
            tools=list(self.tools.values()),
            system=self.system,
            limits=self.limits,
            tool_choice=self.tool_choice,
            state=state,
            output=self.output,
            settings=self.settings,
        )

    async def run(
        self,
        message: str,
        *,
        deps: DepsT = None,
        user: str | None = None,
        conversation_id: str | None = None,
        state: LoopState | None = None,
        approvals: ApprovalHandler | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> RunResult[OutputT]:
        """Run until the model answers, a limit is hit, or approval is needed without a handler.

        ``attachments`` (see `agentflow.attachments.attachment`) go with the message.
        """
        loop = self.new_loop(state)
        effect = loop.user_message(message, attachments, sender=user)
        run = _Run(self, loop, deps, user, conversation_id or uuid.uuid4().hex, approvals)
        return await run.complete(effect)

    def run_sync(self, message: str, **kwargs: Any) -> RunResult[OutputT]:
        """[`run`][agentflow.Agent.run] for code without an event loop."""
        return asyncio.run(self.run(message, **kwargs))

    async def run_stream(
        self,
        message: str,
        *,
        deps: DepsT = None,
        user: str | None = None,
        conversation_id: str | None = None,
        state: LoopState | None = None,
        approvals: ApprovalHandler | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> AsyncGenerator[Event]:
        """Yield every step as it happens, and the answer's text as it is written.

        Each model call is streamed: `TextDelta` events carry its text
        as it comes, then the step's events follow once it is done. The last event is
        `RunFinished`. Leaving the loop early stops the run after the step under way
        (a tool that has started finishes, and is recorded).
        """
        loop = self.new_loop(state)
        effect = loop.user_message(message, attachments, sender=user)
        run = _Run(
            self, loop, deps, user, conversation_id or uuid.uuid4().hex, approvals, stream=True
        )
        async for event in run.stream(effect):
            yield event

    async def resume(
        self,
        paused: RunResult[Any],
        decisions: Sequence[ApprovalDecision],
        *,
        deps: DepsT = None,
        user: str | None = None,
        approvals: ApprovalHandler | None = None,
    ) -> RunResult[OutputT]:
        """Continue a run that stopped at ``awaiting_approval`` with the humans' decisions.

        Raises [`ApprovalError`][agentflow.ApprovalError], changing nothing, for a decision that
        does not name one of this run's pending requests (its conversation, tool call and digest),
        or that this agent has already accepted once.
        """
        loop = self.new_loop(paused.state)
        effect = self.accept_approvals(loop, decisions, paused.conversation_id)
        run = _Run(self, loop, deps, user, paused.conversation_id, approvals)
        for decision in decisions:
            run.emit(ApprovalDecided(decision=decision))
        return await run.complete(effect)

    def accept_approvals(
        self, loop: AgentLoop, decisions: Sequence[ApprovalDecision], conversation_id: str
    ) -> Effect:
        """Feed ``decisions`` to ``loop``, each approval at most once in this agent's life.

        In-process, single use needs no database: the agent remembers what it accepted, so a
        saved copy of a paused run cannot be resumed twice with one decision. Raises
        [`ApprovalError`][agentflow.ApprovalError], changing nothing, for a decision from another
        conversation or already used. Durable paths keep single use in the approval ledger
        (`agentflow.approvals.ledger`).
        """
        if any(d.conversation_id != conversation_id for d in decisions):
            raise ApprovalError("the decision was given in another conversation")
        keys = [d.approval_key for d in decisions if d.approved]
        if any(key in self._spent for key in keys):
            raise ApprovalError("this approval has already been used")
        effect = loop.approvals_decided(decisions)
        self._spent.update(keys)
        return effect

    async def approve_edited(
        self,
        paused: RunResult[Any],
        request: ApprovalRequest,
        changes: Mapping[str, Any],
        *,
        approver: str,
        deps: DepsT = None,
        reason: str = "",
    ) -> ApprovalDecision:
        """Approve ``request`` of the ``paused`` run with ``changes``, as ``approver``.

        Returns the decision to pass to [`resume`][agentflow.Agent.resume].
        The edited call is a new request (see `agentflow.execution.approve_with_edits`):
        only the fields the policy made editable may change, and the tool's preconditions must
        allow the edited call under this approval. Raises [`ApprovalError`][agentflow.ApprovalError]
        otherwise; nothing changes, and the request can still be approved as it is or denied.
        """
        tool = self.tools.get(request.tool)
        if tool is None:
            raise ApprovalError(f"this agent has no tool {request.tool!r}")
        ctx = RunContext(
            deps=deps,
            user=request.requester,
            conversation_id=paused.conversation_id,
            tool_call_id=request.tool_call_id,
            messages=paused.state.messages,
            latest_user_message=paused.state.latest_user_message,
            sources=self.sources,
        )
        approval = request.approve(approver, reason=reason)
        return await approve_with_edits(tool, ctx, request, changes, approval)


class _Run(Generic[DepsT, OutputT]):
    """One run's I/O: performs the loop's effects and reports each step.

    [`Agent.run`][agentflow.Agent.run] drives it with `complete` and
    [`Agent.run_stream`][agentflow.Agent.run_stream] with `stream`, which yields the same events:
    ``run`` does not pay for an async generator and its per-event hand-offs. Events are only built
    when someone observes them (a stream or an event handler); nothing else can tell whether they
    were.
    """

    def __init__(
        self,
        agent: Agent[DepsT, OutputT],
        loop: AgentLoop,
        deps: DepsT,
        user: str | None,
        conversation_id: str,
        approvals: ApprovalHandler | None,
        *,
        stream: bool = False,
    ) -> None:
        self.agent, self.loop, self.deps, self.user = agent, loop, deps, user
        self.conversation_id = conversation_id
        self.approvals = approvals
        self.handlers = agent.event_handlers
        self.streaming = stream
        self.sink: Callable[[Event], None] | None = None
        """Where a stream's events go as they happen (its queue)."""
        self.stopping = False
        """Set when a stream's consumer left: the run stops after the step under way."""
        self.observed = stream or bool(self.handlers)

    def emit(self, event: Event) -> None:
        if self.sink is not None:
            self.sink(event)
        for handler in self.handlers:
            handler(event)

    def _delta(self, text: str) -> None:
        if self.sink is not None:
            self.sink(TextDelta(text=text))

    async def complete(self, effect: Effect) -> RunResult[OutputT]:
        """Perform effects until the loop finishes."""
        while not isinstance(effect, Finish):
            effect = await self.perform(effect)
        return self.finish(effect)

    async def stream(self, effect: Effect) -> AsyncIterator[Event]:
        """`complete` in a task, yielding its events as they happen."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.sink = queue.put_nowait

        async def drive(effect: Effect) -> None:
            try:
                while not isinstance(effect, Finish):
                    effect = await self.perform(effect)
                    if self.stopping:
                        return
                self.finish(effect)
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(drive(effect))
        try:
            while (event := await queue.get()) is not None:
                yield event
            await task  # what the run raised, if anything
        finally:
            if not task.done():
                # The consumer left early: let the step under way finish, start no other.
                self.stopping = True
                await asyncio.shield(task)

    async def perform(self, effect: CallModel | CallTools | AwaitApprovals) -> Effect:
        """Perform one effect and feed what happened back into the loop."""
        loop = self.loop
        match effect:
            case CallModel(request=request):
                started = time.perf_counter()
                try:
                    if self.streaming:
                        with retry_listener(self.emit), delta_listener(self._delta):
                            response = await self.agent.model.request(request)
                    elif self.observed:
                        with retry_listener(self.emit):
                            response = await self.agent.model.request(request)
                    else:
                        response = await self.agent.model.request(request)
                except ModelError as exc:
                    self.emit(ModelFailed(request=request, error=str(exc)))
                    return loop.model_failed(str(exc))
                if self.observed:
                    elapsed = time.perf_counter() - started
                    self.emit(ModelCalled(request=request, response=response, duration_s=elapsed))
                return loop.model_responded(response)
            case CallTools(calls=calls):
                outcomes: list[Any] = []
                for batch in loop.batches(calls):
                    if len(batch) == 1:
                        outcomes.append(await self._invoke(batch[0]))
                    else:
                        outcomes.extend(await asyncio.gather(*(self._invoke(c) for c in batch)))
                return loop.tools_finished(outcomes)
            case AwaitApprovals(requests=requests):
                for request in requests:
                    self.emit(ApprovalRequested(request=request))
                if self.approvals is None:
                    return Finish("awaiting_approval", waiting_message(requests))
                decisions = await asyncio.gather(*(self.approvals(r) for r in requests))
                for decision in decisions:
                    self.emit(ApprovalDecided(decision=decision))
                return self.agent.accept_approvals(loop, decisions, self.conversation_id)

    def finish(self, effect: Finish) -> RunResult[OutputT]:
        loop = self.loop
        if self.agent.output is None:
            value = effect.output
        else:
            value = effect.value if effect.status == "completed" else NO_OUTPUT
        result: RunResult[OutputT] = RunResult(
            text=effect.output,
            status=effect.status,
            conversation_id=self.conversation_id,
            state=loop.state,
            pending_approvals=loop.pending_approvals,
            value=value,
        )
        if self.observed:
            self.emit(RunFinished(result=result))
        return result

    async def _invoke(self, call: ToolCall) -> Any:
        tool = self.agent.tools[call.name]
        ctx = RunContext(
            deps=self.deps,
            user=self.user,
            conversation_id=self.conversation_id,
            tool_call_id=call.id,
            messages=self.loop.state.messages,
            latest_user_message=self.loop.state.latest_user_message,
            approval=call.approval,
            sources=self.agent.sources,
        )
        validated = self.loop.validated_arguments(call.id)
        raise_errors = self.agent.raise_tool_errors
        if not self.observed:
            return await invoke_tool(
                tool, ctx, call, validated=validated, raise_errors=raise_errors
            )
        started = time.perf_counter()
        outcome = await invoke_tool(
            tool,
            ctx,
            call,
            emit=self.emit,
            validated=validated,
            raise_errors=raise_errors,
            intents=self.agent.intents,
        )
        self.emit(
            ToolExecuted(call=call, outcome=outcome, duration_s=time.perf_counter() - started)
        )
        return outcome
