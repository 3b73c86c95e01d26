"""The ReAct loop as a sans-IO state machine.

It consumes what happened (a user message, a model response, tool outcomes, approval decisions)
and returns the next effect for a driver to perform (:class:`CallModel`, :class:`CallTools`,
:class:`AwaitApprovals`) or :class:`Finish`. It does no I/O and reads no clock, so the same loop
runs under the in-process driver, inside a Temporal workflow and in a unit test.

Validation of tool arguments happens here (it is pure): invalid calls never become effects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, Field, field_serializer

from agentflow.binding import ApprovalDecision, ApprovalRequest, call_digest, canonical_json
from agentflow.exceptions import ApprovalError, InvalidArguments, InvalidInput
from agentflow.messages import (
    ContentBlock,
    Message,
    ModelRequest,
    ModelResponse,
    TextBlock,
    ToolChoice,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.outcomes import ToolDenied, ToolFailed, ToolNeedsApproval, ToolOutcome, ToolReturned


class ToolSpec(Protocol):
    """What the loop needs of a tool: its definition and a pure argument validator."""

    @property
    def name(self) -> str: ...
    @property
    def definition(self) -> ToolDefinition: ...
    def validate(self, raw: Any) -> BaseModel: ...


class Limits(BaseModel):
    """Bounds on one run (one user message and everything it causes)."""

    max_steps: int = Field(default=25, ge=1)
    """Model calls per run."""
    max_retries: int = Field(default=3, ge=0)
    """Invalid calls (bad arguments, unknown tool, ``ModelRetry``) tolerated per tool per run."""
    max_total_tokens: int | None = Field(default=None, ge=1)
    """Token budget per run (input + output + cache); no model call starts past it."""
    max_response_tokens: int = Field(default=4096, ge=1)
    max_message_chars: int = Field(default=32_000, ge=1)


Status = Literal[
    "completed",
    "awaiting_approval",
    "max_steps",
    "token_budget",
    "max_tokens",
    "tool_retries",
    "model_error",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A validated call, ready for the executor (which validates again at its own boundary).

    A plain dataclass (pydantic still (de)serialises it inside :class:`LoopState` and activity
    inputs): the loop makes one per tool call, and a ``BaseModel`` would validate it again.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    digest: str
    approval: ApprovalDecision | None = None


@dataclass(slots=True, kw_only=True)
class _Pending:
    call: ToolCall
    approval_request: ApprovalRequest | None = None


def _no_messages() -> list[Message]:
    return []


class LoopState(BaseModel):
    """Everything the loop knows.

    Serialisable, so a workflow can carry it across ``continue_as_new`` and a paused run can be
    resumed. The default factories are the plain ``list``/``dict`` types: calling a
    parametrised alias such as ``list[str]`` costs several times as much, on every run.
    """

    messages: list[Message] = Field(default_factory=_no_messages)
    usage: Usage = Usage()
    run_usage: Usage = Usage()
    run_steps: int = 0
    retries: dict[str, int] = Field(default_factory=dict)
    turn_order: list[str] = Field(default_factory=list)
    results: dict[str, ToolResultBlock] = Field(default_factory=dict)
    pending: dict[str, _Pending] = Field(default_factory=dict)
    call_ids: set[str] = Field(default_factory=set)
    """Every tool-call id of the conversation: ids key results and idempotency, so the loop
    keeps them unique whatever the model sends."""

    @field_serializer("call_ids")
    def _sorted_call_ids(self, call_ids: set[str]) -> list[str]:
        # Set order depends on the process's hash seed; serialised state must not.
        return sorted(call_ids)


@dataclass(frozen=True, slots=True)
class CallModel:
    request: ModelRequest


@dataclass(frozen=True, slots=True)
class CallTools:
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class AwaitApprovals:
    requests: tuple[ApprovalRequest, ...]


@dataclass(frozen=True, slots=True)
class Finish:
    status: Status
    output: str


Effect = CallModel | CallTools | AwaitApprovals | Finish

_LIMIT_MESSAGES: dict[Status, str] = {
    "max_steps": "I stopped because this request needed more steps than I am allowed.",
    "token_budget": "I stopped because this request used up its token budget.",
    "tool_retries": "I stopped because I kept making invalid tool calls.",
}


class AgentLoop:
    """One conversation's loop. Each method consumes an event and returns the next effect."""

    def __init__(
        self,
        *,
        tools: Sequence[ToolSpec],
        system: str = "",
        limits: Limits | None = None,
        tool_choice: ToolChoice = "auto",
        state: LoopState | None = None,
    ) -> None:
        self._tools = {t.name: t for t in tools}
        self._definitions = tuple(t.definition for t in tools)
        self.system = system
        self.limits = limits or Limits()
        self.tool_choice = tool_choice
        self.state = state if state is not None else LoopState()
        self._validated: dict[str, BaseModel] = {}
        """Arguments validated by this loop object, by call id: not state, just a cache that
        spares an in-process executor from validating the same input twice."""

    # -- events ---------------------------------------------------------------------------

    def user_message(self, text: str) -> Effect:
        """Start a run. Raises :class:`InvalidInput` (state untouched) for unusable input."""
        check_user_message(text, self.limits)
        if self.state.pending:
            raise InvalidInput("a run is still waiting for tool results or approvals")
        s = self.state
        s.run_steps, s.run_usage, s.retries = 0, Usage(), {}
        self._append_user((TextBlock(text=text),))
        return self._call_model()

    def model_responded(self, response: ModelResponse) -> Effect:
        s = self.state
        s.usage += response.usage
        s.run_usage += response.usage
        if response.stop_reason == "max_tokens":
            # A tool_use cut off by max_tokens may be incomplete: never execute it.
            text = response.text
            if text:
                s.messages.append(Message(role="assistant", content=(TextBlock(text=text),)))
            return Finish("max_tokens", text or "My answer was cut off (max_tokens reached).")
        content = self._unique_call_ids(response.content)
        if content:
            s.messages.append(Message(role="assistant", content=content))
        calls = tuple(b for b in content if isinstance(b, ToolUseBlock))
        if not calls:
            return Finish("completed", response.text)

        s.turn_order[:] = [c.id for c in calls]
        ready: list[ToolCall] = []
        for use in calls:
            spec = self._tools.get(use.name)
            if spec is None:
                known = ", ".join(self._tools) or "none"
                self._error(use.id, use.name, f"Unknown tool {use.name!r}. Available: {known}.")
                continue
            try:
                validated = spec.validate(use.input)
            except InvalidArguments as exc:
                self._error(use.id, use.name, f"Invalid arguments for {use.name}: {exc.message}")
                continue
            args = validated.model_dump(mode="json")
            call = ToolCall(
                id=use.id, name=use.name, arguments=args, digest=call_digest(use.name, args)
            )
            self._validated[use.id] = validated
            s.pending[use.id] = _Pending(call=call, approval_request=None)
            ready.append(call)
        if ready:
            return CallTools(tuple(ready))
        return self._turn_complete()

    def _unique_call_ids(self, content: tuple[ContentBlock, ...]) -> tuple[ContentBlock, ...]:
        """Rename a tool-call id the conversation has already seen (``id~2``, ``id~3``…).

        A reused id would give a second call the first call's idempotency key (so a second
        booking would silently return the first) and make the transcript invalid.
        """
        seen = self.state.call_ids
        renamed: list[ContentBlock] = []
        for block in content:
            if isinstance(block, ToolUseBlock):
                new_id, n = block.id, 1
                while new_id in seen:
                    n += 1
                    new_id = f"{block.id}~{n}"
                seen.add(new_id)
                if new_id != block.id:
                    block = replace(block, id=new_id)
            renamed.append(block)
        return tuple(renamed)

    def model_failed(self, error: str) -> Effect:
        return Finish(
            "model_error", f"The model is unavailable right now ({error}). Please try again."
        )

    def tools_finished(self, outcomes: Sequence[ToolOutcome]) -> Effect:
        s = self.state
        for outcome in outcomes:
            pending = s.pending.get(outcome.call_id)
            if pending is None:
                raise ValueError(f"no pending tool call {outcome.call_id!r}")
            name = pending.call.name
            match outcome:
                case ToolReturned(content=content):
                    approval = pending.call.approval
                    if approval is not None and approval.edited_from is not None:
                        content = with_edit_note(pending.call, approval, content)
                    self._result(outcome.call_id, content, is_error=False)
                case ToolFailed(message=message):
                    self._error(outcome.call_id, name, message)
                case ToolDenied(reasons=reasons):
                    text = "Refused by precondition: " + "; ".join(reasons)
                    self._result(outcome.call_id, text, is_error=True)
                case ToolNeedsApproval(request=request):
                    pending.approval_request = request
        return self._after_tools()

    def approvals_decided(self, decisions: Sequence[ApprovalDecision]) -> Effect:
        """Feed human decisions.

        Raises :class:`ApprovalError`, leaving the state untouched, for a decision that matches
        no pending request's digest, or whose edit changes an argument the request does not
        let the approver change, fails validation or does not match its own digest.
        """
        waiting = {
            p.approval_request.digest: p for p in self.state.pending.values() if p.approval_request
        }
        for decision in decisions:
            if decision.request_digest not in waiting:
                raise ApprovalError(f"no pending approval with digest {decision.digest[:12]}…")
        edited = {
            d.request_digest: self._edited_call(waiting[d.request_digest], d)
            for d in decisions
            if d.edited_from is not None and d.approved
        }
        approved: list[ToolCall] = []
        for decision in decisions:
            pending = waiting[decision.request_digest]
            if decision.approved:
                pending.approval_request = None
                call = edited.get(decision.request_digest, pending.call)
                pending.call = replace(call, approval=decision)
                approved.append(pending.call)
            else:
                who = f" by {decision.approver}" if decision.approver else ""
                why = f": {decision.reason}" if decision.reason else ""
                self._result(pending.call.id, f"Approval {decision.outcome}{who}{why}", True)
        if approved:
            return CallTools(tuple(approved))
        return self._after_tools()

    def _edited_call(self, pending: _Pending, decision: ApprovalDecision) -> ToolCall:
        """The call an approver's edit turns ``pending`` into, checked before anything changes.

        The preconditions (hard caps, the approver's authority) are evaluated again by the
        executor, on the edited arguments, before the tool runs.
        """
        request = pending.approval_request
        assert request is not None
        spec = self._tools.get(pending.call.name)
        if spec is None or decision.arguments is None:
            raise ApprovalError("an edited approval must carry the edited call's arguments")
        try:
            arguments = spec.validate(decision.arguments).model_dump(mode="json")
        except InvalidArguments as exc:
            raise ApprovalError(f"the edited call is invalid: {exc.message}") from None
        names = arguments.keys() | request.arguments.keys()
        changed = {k for k in names if arguments.get(k) != request.arguments.get(k)}
        locked = sorted(changed - set(request.editable))
        if locked:
            raise ApprovalError(f"the approver may not change {', '.join(locked)}")
        digest = call_digest(pending.call.name, arguments)
        if digest != decision.digest:
            raise ApprovalError("the edited arguments do not match the decision's digest")
        return replace(pending.call, arguments=arguments, digest=digest)

    # -- queries --------------------------------------------------------------------------

    def validated_arguments(self, call_id: str) -> BaseModel | None:
        """The validated arguments of a call this loop object emitted, if it still has them."""
        return self._validated.get(call_id)

    @property
    def pending_approvals(self) -> tuple[ApprovalRequest, ...]:
        pending = self.state.pending
        if not pending:
            return ()
        return tuple(p.approval_request for p in pending.values() if p.approval_request)

    # -- internals ------------------------------------------------------------------------

    def _after_tools(self) -> Effect:
        if self.state.pending and not self._retries_exhausted():
            waiting = self.pending_approvals
            if waiting:
                return AwaitApprovals(waiting)
            return CallTools(tuple(p.call for p in self.state.pending.values()))
        return self._turn_complete()

    def _turn_complete(self) -> Effect:
        if self._retries_exhausted():
            self._flush_results(abandon=True)
            return Finish("tool_retries", _LIMIT_MESSAGES["tool_retries"])
        self._flush_results(abandon=False)
        return self._call_model()

    def _retries_exhausted(self) -> bool:
        retries = self.state.retries
        return bool(retries) and max(retries.values()) > self.limits.max_retries

    def _call_model(self) -> Effect:
        s, limits = self.state, self.limits
        if s.run_steps >= limits.max_steps:
            return Finish("max_steps", _LIMIT_MESSAGES["max_steps"])
        if (
            limits.max_total_tokens is not None
            and s.run_usage.total_tokens >= limits.max_total_tokens
        ):
            return Finish("token_budget", _LIMIT_MESSAGES["token_budget"])
        s.run_steps += 1
        return CallModel(
            ModelRequest(
                system=self.system,
                messages=tuple(s.messages),
                tools=self._definitions,
                tool_choice=self.tool_choice,
                max_tokens=limits.max_response_tokens,
            )
        )

    def _error(self, call_id: str, tool_name: str, message: str) -> None:
        self.state.retries[tool_name] = self.state.retries.get(tool_name, 0) + 1
        self._result(call_id, message, is_error=True)

    def _result(self, call_id: str, content: str, is_error: bool) -> None:
        self.state.pending.pop(call_id, None)
        self._validated.pop(call_id, None)
        self.state.results[call_id] = ToolResultBlock(
            tool_use_id=call_id, content=content, is_error=is_error
        )

    def _flush_results(self, *, abandon: bool) -> None:
        """Answer every tool_use of the turn, in order, so the transcript stays valid."""
        s = self.state
        if abandon:
            for call_id in list(s.pending):
                self._result(call_id, "Not executed: the run was stopped.", is_error=True)
        blocks = tuple(s.results[i] for i in s.turn_order if i in s.results)
        # Emptied in place: assigning a pydantic model's field costs far more than ``clear()``.
        s.results.clear()
        s.turn_order.clear()
        if blocks:
            self._append_user(blocks)

    def _append_user(self, blocks: tuple[ContentBlock, ...]) -> None:
        messages = self.state.messages
        if messages and messages[-1].role == "user":
            # The Messages API wants alternating roles; a stopped run can leave a user turn last.
            messages[-1] = Message(role="user", content=messages[-1].content + blocks)
        else:
            messages.append(Message(role="user", content=blocks))


def check_user_message(text: str, limits: Limits) -> None:
    """Refuse empty or oversize input before it enters the conversation."""
    if not text.strip():
        raise InvalidInput("the message is empty")
    if len(text) > limits.max_message_chars:
        raise InvalidInput(
            f"the message has {len(text)} characters; the limit is {limits.max_message_chars}"
        )


def with_edit_note(call: ToolCall, approval: ApprovalDecision, content: str) -> str:
    """An edited call's result, saying so, so that the model reports what actually ran.

    A JSON object result keeps its shape (code that parses results still can) and gains an
    ``approver_edit`` entry; any other result is prefixed with a sentence.
    """
    who = approval.approver or "the approver"
    try:
        parsed = json.loads(content)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        note = {"edited_by": who, "executed": {"tool": call.name, "arguments": call.arguments}}
        return canonical_json({**cast(dict[str, Any], parsed), "approver_edit": note})
    executed = ", ".join(f"{k}={v!r}" for k, v in sorted(call.arguments.items()))
    return (
        f"The approver {who} edited this call before approving it; "
        f"executed: {call.name}({executed}). Result: {content}"
    )


def waiting_message(requests: Sequence[ApprovalRequest]) -> str:
    """What the user is told while a turn waits for humans."""
    tools = ", ".join(sorted({r.tool for r in requests}))
    return f"Waiting for approval before running {tools}."
