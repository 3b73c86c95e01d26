"""The ReAct loop as a sans-IO state machine.

It consumes what happened (a user message, a model response, tool outcomes, approval decisions)
and returns the next effect for a driver to perform (`CallModel`, `CallTools`,
`AwaitApprovals`) or `Finish`. It does no I/O and reads no clock, so the same loop
runs under the in-process driver, inside a Temporal workflow and in a unit test.

Validation of tool arguments happens here (it is pure): invalid calls never become effects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, Field, field_serializer

from agentflow.approvals.rules import check_edit
from agentflow.attachments import check_attachments
from agentflow.binding import (
    ApprovalDecision,
    ApprovalRequest,
    call_digest,
    canonical_arguments,
    canonical_json,
)
from agentflow.exceptions import ApprovalError, InvalidArguments, InvalidInput, NotParticipant
from agentflow.messages import (
    Attachment,
    ContentBlock,
    Message,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    TextBlock,
    ToolChoice,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.outcomes import ToolDenied, ToolFailed, ToolNeedsApproval, ToolOutcome, ToolReturned
from agentflow.output import NOT_ALONE, TEXT_NOT_ACCEPTED, OutputSpec


class ToolSpec(Protocol):
    """What the loop needs of a tool: its definition and a pure argument validator."""

    @property
    def name(self) -> str: ...
    @property
    def definition(self) -> ToolDefinition: ...
    @property
    def concurrent(self) -> bool:
        """Whether calls of this tool may run at the same time as other calls of the turn."""
        ...

    def validate(self, raw: Any) -> BaseModel: ...


class Limits(BaseModel):
    """Bounds on one run (one user message and everything it causes)."""

    max_steps: int = Field(default=25, ge=1)
    """Model calls per run."""
    max_retries: int = Field(default=3, ge=0)
    """Invalid calls (bad arguments, unknown tool) tolerated per tool per run. A tool's own
    error results (``ModelRetry``, an exception in its body) are answers, not invalid calls:
    they count only as steps."""
    max_total_tokens: int | None = Field(default=None, ge=1)
    """Token budget per run (input + output + cache); no model call starts past it."""
    max_response_tokens: int = Field(default=4096, ge=1)
    max_message_chars: int = Field(default=32_000, ge=1)
    max_attachments: int = Field(default=20, ge=0)
    """Images and PDFs in one user message."""
    max_attachment_bytes: int = Field(default=5_000_000, ge=1)
    """Decoded size of each attachment (the Messages API's limit for an image)."""


Status = Literal[
    "completed",
    "awaiting_approval",
    "max_steps",
    "token_budget",
    "max_tokens",
    "tool_retries",
    "repeated_denial",
    "refused",
    "model_error",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A validated call, ready for the executor (which validates again at its own boundary).

    A plain dataclass (pydantic still (de)serialises it inside [`LoopState`][agentflow.LoopState]
    and activity inputs): the loop makes one per tool call, and a ``BaseModel`` would validate it
    again.
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
    latest_user_message: str = ""
    """The text of the message that started the current run: what rules read as "what the
    user just said", without parsing the transcript."""
    run_start: int = 0
    """Index in ``messages`` of the current run's user message (a refusal removes from here)."""
    denied: dict[str, int] = Field(default_factory=dict)
    """Denials per call digest in the current run: the same call denied twice ends the run."""
    end_user: str | None = None
    """Who the current run answers (the message's sender, else the conversation's owner)."""

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
    """What the user is told."""
    value: Any = None
    """The validated answer, when the loop has an `OutputSpec` and the
    run completed."""


Effect = CallModel | CallTools | AwaitApprovals | Finish

_LIMIT_MESSAGES: dict[Status, str] = {
    "max_steps": "I stopped because this request needed more steps than I am allowed.",
    "token_budget": "I stopped because this request used up its token budget.",
    "tool_retries": "I stopped because I kept making invalid tool calls.",
    "repeated_denial": "I stopped because I asked again for an action that was refused",
    "refused": (
        "The model declined to answer this request, so it was left out of the conversation. "
        "Please rephrase it."
    ),
}
_EMPTY_ANSWER = "The model gave an empty answer. Please try again."

TOOL_CALL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""The tool-call ids providers accept (the Messages API's pattern)."""


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
        output: OutputSpec[Any] | None = None,
        settings: ModelSettings | None = None,
    ) -> None:
        self._tools = {t.name: t for t in tools}
        self._definitions = tuple(t.definition for t in tools)
        self._output = output
        """Set when the final answer must be a validated value given through its tool."""
        if output is not None:
            self._definitions += (output.definition,)
        self.system = system
        self.limits = limits or Limits()
        self.tool_choice = tool_choice
        self.settings = settings or ModelSettings()
        self.state = state if state is not None else LoopState()
        self._validated: dict[str, BaseModel] = {}
        """Arguments validated by this loop object, by call id: not state, just a cache that
        spares an in-process executor from validating the same input twice."""

    # -- events ---------------------------------------------------------------------------

    def user_message(
        self, text: str, attachments: Sequence[Attachment] = (), *, sender: str | None = None
    ) -> Effect:
        """Start a run. Raises `InvalidInput` (state untouched) for unusable input.

        ``attachments`` (images, PDFs) follow the text in the user's message. ``sender`` (who
        wrote it, else the conversation's owner) is the end user the run's model calls are
        made for (`ModelRequest.user`).
        """
        check_user_message(text, self.limits)
        if attachments:
            check_attachments(attachments, self.limits)
        if self.state.pending:
            raise InvalidInput("a run is still waiting for tool results or approvals")
        s = self.state
        s.run_steps, s.run_usage, s.retries, s.denied = 0, Usage(), {}, {}
        self._close_transcript("")
        s.run_start = len(s.messages)
        s.latest_user_message = text
        s.end_user = sender
        s.messages.append(Message(role="user", content=(TextBlock(text=text), *attachments)))
        return self._call_model()

    def model_responded(self, response: ModelResponse) -> Effect:
        s = self.state
        s.usage += response.usage
        s.run_usage += response.usage
        if response.stop_reason == "refusal":
            return self._refused()
        if response.stop_reason == "max_tokens":
            # A tool_use cut off by max_tokens may be incomplete: never execute it.
            text = response.text
            if text.strip():
                s.messages.append(Message(role="assistant", content=(TextBlock(text=text),)))
            return self._finish("max_tokens", text or "My answer was cut off (max_tokens reached).")
        content, malformed = self._sanitized(response.content)
        if content:
            s.messages.append(Message(role="assistant", content=content))
        calls = tuple(b for b in content if isinstance(b, ToolUseBlock))
        if not calls:
            if response.stop_reason == "pause_turn":
                # The provider paused a long turn: sending it back as is lets the model go on.
                return self._call_model()
            if not content or not response.text.strip():
                # Nothing, or only thinking: no answer the user can read.
                return self._finish("model_error", _EMPTY_ANSWER)
            if self._output is not None:
                return self._text_not_accepted()
            return self._finish("completed", response.text)

        s.turn_order[:] = [c.id for c in calls]
        ready: list[ToolCall] = []
        output = self._output
        for use in calls:
            if use.id in malformed:
                self._error(
                    use.id, use.name, f"Invalid arguments for {use.name}: {malformed[use.id]}"
                )
                continue
            if output is not None and use.name == output.name:
                if len(calls) > 1:
                    self._error(use.id, use.name, NOT_ALONE)
                    continue
                try:
                    value = output.validate(use.input)
                except InvalidArguments as exc:
                    self._error(use.id, use.name, f"Invalid answer: {exc.message}")
                    continue
                return self._answered(use.id, output, value)
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
            args = canonical_arguments(validated)
            call = ToolCall(
                id=use.id, name=use.name, arguments=args, digest=call_digest(use.name, args)
            )
            self._validated[use.id] = validated
            s.pending[use.id] = _Pending(call=call, approval_request=None)
            ready.append(call)
        if ready:
            return CallTools(tuple(ready))
        return self._turn_complete()

    def _sanitized(
        self, content: tuple[ContentBlock, ...]
    ) -> tuple[tuple[ContentBlock, ...], dict[str, str]]:
        """The model's content as it may enter the transcript, and the malformed calls' errors.

        Everything stored here is sent back to the provider on every later request, so one
        block it refuses would poison the whole conversation:

        - empty or blank text blocks are dropped (the Messages API refuses them);
        - a tool-call id the conversation has already seen, or one outside the providers'
          pattern, is renamed (``id_2``…): a reused id would also give a second call the first
          call's idempotency key, so a second booking would silently return the first;
        - a tool call whose input is not a JSON object is stored with ``{}`` and answered with
          an error: its input is never echoed back.
        """
        seen = self.state.call_ids
        kept: list[ContentBlock] = []
        malformed: dict[str, str] = {}
        for block in content:
            if isinstance(block, TextBlock):
                if block.text.strip():
                    kept.append(block)
                continue
            if isinstance(block, ToolUseBlock):
                base = block.id if TOOL_CALL_ID.match(block.id) else _safe_id(block.id)
                new_id, n = base, 1
                while new_id in seen:
                    n += 1
                    new_id = f"{base[:56]}_{n}"
                seen.add(new_id)
                if not isinstance(block.input, dict):
                    kind = type(block.input).__name__
                    malformed[new_id] = f"arguments must be a JSON object, got {kind}"
                    block = replace(block, id=new_id, input={})
                elif new_id != block.id:
                    block = replace(block, id=new_id)
            kept.append(block)
        return tuple(kept), malformed

    def _answered(self, call_id: str, output: OutputSpec[Any], value: Any) -> Finish:
        """End the run with ``value``.

        The output call is answered, so the transcript stays valid, and the answer's JSON
        closes it as what the user was told.
        """
        self._result(call_id, "Final answer accepted.", is_error=False)
        self._flush_results(abandon=False)
        text = output.text(value)
        self._close_transcript(text)
        return Finish("completed", text, value)

    def _text_not_accepted(self) -> Effect:
        """A text answer where a structured one is due: say so, as one more invalid call."""
        s, output = self.state, self._output
        assert output is not None
        s.retries[output.name] = s.retries.get(output.name, 0) + 1
        if self._retries_exhausted():
            return self._finish("tool_retries", _LIMIT_MESSAGES["tool_retries"])
        s.messages.append(Message(role="user", content=(TextBlock(text=TEXT_NOT_ACCEPTED),)))
        return self._call_model()

    def model_failed(self, error: str) -> Effect:
        return self._finish(
            "model_error", f"The model is unavailable right now ({error}). Please try again."
        )

    def _refused(self) -> Effect:
        """The provider refused: the run is removed from the transcript, as its docs advise.

        Keeping the refused turn would have every later request refused too. Tool calls the
        run already executed stay in the audit trail; the transcript forgets the run.
        """
        s = self.state
        for call_id in list(s.pending):
            self._validated.pop(call_id, None)
        s.pending.clear()
        s.results.clear()
        s.turn_order.clear()
        del s.messages[s.run_start :]
        return Finish("refused", _LIMIT_MESSAGES["refused"])

    def tools_finished(self, outcomes: Sequence[ToolOutcome]) -> Effect:
        s = self.state
        for outcome in outcomes:
            pending = s.pending.get(outcome.call_id)
            if pending is None:
                raise ValueError(f"no pending tool call {outcome.call_id!r}")
            match outcome:
                case ToolReturned(content=content, attachments=attachments):
                    approval = pending.call.approval
                    if approval is not None and approval.edited_from is not None:
                        content = with_edit_note(pending.call, approval, content)
                    refused = _unusable(attachments, self.limits)
                    if refused is not None:
                        # The call ran; what it gave back cannot go to the model.
                        self._result(outcome.call_id, refused, is_error=True)
                        continue
                    self._result(outcome.call_id, content, is_error=False, attachments=attachments)
                case ToolFailed(message=message):
                    self._result(outcome.call_id, message, is_error=True)
                case ToolDenied(reasons=reasons):
                    self._denied(pending.call)
                    text = "Refused by precondition: " + "; ".join(reasons)
                    self._result(outcome.call_id, text, is_error=True)
                case ToolNeedsApproval(request=request):
                    if pending.call.digest in s.denied:
                        # Asking the humans again for the call they just refused: no.
                        self._denied(pending.call)
                        text = "Refused: this exact call was already denied in this request"
                        self._result(outcome.call_id, text, is_error=True)
                    else:
                        pending.approval_request = request
        return self._after_tools()

    def approvals_decided(self, decisions: Sequence[ApprovalDecision]) -> Effect:
        """Feed human decisions.

        Raises [`ApprovalError`][agentflow.ApprovalError], leaving the state untouched, for a
        decision that names no pending request of this run (another tool call, another digest; the
        driver checks the conversation, and the executor checks both again before a body runs),
        decides one request twice, or whose edit changes an argument the request does not let
        the approver change, fails validation or does not match its own digest.
        """
        waiting = {
            p.call.id: p for p in self.state.pending.values() if p.approval_request is not None
        }
        for decision in decisions:
            check_decision_names(decision, waiting)
        if len({d.tool_call_id for d in decisions}) != len(decisions):
            raise ApprovalError("one approval request was decided more than once")
        edited = {
            d.tool_call_id: self._edited_call(waiting[d.tool_call_id], d)
            for d in decisions
            if d.edited_from is not None and d.approved
        }
        approved: list[ToolCall] = []
        for decision in decisions:
            pending = waiting[decision.tool_call_id]
            if decision.approved:
                pending.approval_request = None
                call = edited.get(decision.tool_call_id, pending.call)
                pending.call = replace(call, approval=decision)
                approved.append(pending.call)
            else:
                who = f" by {decision.approver}" if decision.approver else ""
                why = f": {decision.reason}" if decision.reason else ""
                self._denied(pending.call)
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
            arguments = canonical_arguments(spec.validate(decision.arguments))
        except InvalidArguments as exc:
            raise ApprovalError(f"the edited call is invalid: {exc.message}") from None
        names = arguments.keys() | request.arguments.keys()
        check_edit(request, {k for k in names if arguments.get(k) != request.arguments.get(k)})
        digest = call_digest(pending.call.name, arguments)
        if digest != decision.digest:
            raise ApprovalError("the edited arguments do not match the decision's digest")
        return replace(pending.call, arguments=arguments, digest=digest)

    # -- queries --------------------------------------------------------------------------

    def batches(self, calls: Sequence[ToolCall]) -> tuple[tuple[ToolCall, ...], ...]:
        """``calls`` in the model's order, grouped into what may run at the same time.

        A call of a tool that is not declared concurrent runs alone, after the calls before it
        have finished, so its preconditions see their effects (two payments against one balance
        cannot both pass the balance check). Consecutive concurrent calls share a batch.
        """
        batches: list[tuple[ToolCall, ...]] = []
        together: list[ToolCall] = []
        for call in calls:
            spec = self._tools.get(call.name)
            if spec is not None and spec.concurrent:
                together.append(call)
                continue
            if together:
                batches.append(tuple(together))
                together = []
            batches.append((call,))
        if together:
            batches.append(tuple(together))
        return tuple(batches)

    def request(self) -> ModelRequest:
        """The model request for the transcript as it stands (what `CallModel` carries)."""
        return ModelRequest(
            system=self.system,
            messages=tuple(self.state.messages),
            tools=self._definitions,
            tool_choice=self.tool_choice,
            max_tokens=self.limits.max_response_tokens,
            settings=self.settings,
            user=self.state.end_user,
        )

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
            return self._finish("tool_retries", _LIMIT_MESSAGES["tool_retries"])
        self._flush_results(abandon=False)
        repeated = [d for d, n in self.state.denied.items() if n > 1]
        if repeated:
            return self._finish(
                "repeated_denial",
                f"{_LIMIT_MESSAGES['repeated_denial']} ({self._denial_reasons()}).",
            )
        return self._call_model()

    def _denied(self, call: ToolCall) -> None:
        denied = self.state.denied
        denied[call.digest] = denied.get(call.digest, 0) + 1

    def _denial_reasons(self) -> str:
        """The latest refusal, as the model was told it."""
        for message in reversed(self.state.messages):
            for block in message.content:
                if isinstance(block, ToolResultBlock) and block.is_error:
                    return block.content
        return "refused"

    def _finish(self, status: Status, output: str) -> Finish:
        self._close_transcript(output)
        return Finish(status, output)

    def _close_transcript(self, output: str) -> None:
        """End a run that ended without the model's answer with what the user was told.

        A run stopped by an outage, a limit or an empty answer leaves a user turn last; the
        next user message must not merge into it (the Messages API wants alternating roles, and
        "book option 1" must never become part of "Stop, do not book"). The note is what the
        user saw, so the model knows the run ended there.
        """
        messages = self.state.messages
        if messages and messages[-1].role == "user":
            note = output or "(This request ended without an answer.)"
            messages.append(Message(role="assistant", content=(TextBlock(text=note),)))

    def _retries_exhausted(self) -> bool:
        retries = self.state.retries
        return bool(retries) and max(retries.values()) > self.limits.max_retries

    def _call_model(self) -> Effect:
        s, limits = self.state, self.limits
        if s.run_steps >= limits.max_steps:
            return self._finish("max_steps", _LIMIT_MESSAGES["max_steps"])
        if (
            limits.max_total_tokens is not None
            and s.run_usage.total_tokens >= limits.max_total_tokens
        ):
            return self._finish("token_budget", _LIMIT_MESSAGES["token_budget"])
        s.run_steps += 1
        return CallModel(self.request())

    def _error(self, call_id: str, tool_name: str, message: str) -> None:
        self.state.retries[tool_name] = self.state.retries.get(tool_name, 0) + 1
        self._result(call_id, message, is_error=True)

    def _result(
        self,
        call_id: str,
        content: str,
        is_error: bool,
        attachments: tuple[Attachment, ...] = (),
    ) -> None:
        self.state.pending.pop(call_id, None)
        self._validated.pop(call_id, None)
        self.state.results[call_id] = ToolResultBlock(
            tool_use_id=call_id, content=content, is_error=is_error, attachments=attachments
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
            s.messages.append(Message(role="user", content=blocks))


def _unusable(attachments: Sequence[Attachment], limits: Limits) -> str | None:
    """Why a tool's images or PDFs cannot be shown to the model (the user's rules), or None."""
    if not attachments:
        return None
    try:
        check_attachments(attachments, limits)
    except InvalidInput as exc:
        return f"The tool ran, but its result cannot be shown: {exc}"
    return None


def check_decision_names(decision: ApprovalDecision, waiting: dict[str, _Pending]) -> None:
    """Refuse a decision that does not name one of ``waiting``'s requests exactly."""
    pending = waiting.get(decision.tool_call_id)
    request = pending.approval_request if pending is not None else None
    if request is None:
        raise ApprovalError(
            f"no pending approval for tool call {decision.tool_call_id!r} in this run"
        )
    if decision.request_digest != request.digest:
        raise ApprovalError(f"the decision is for other arguments ({decision.digest[:12]}…)")


def _safe_id(raw: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", raw)[:56]
    return cleaned or "toolu"


def check_sender(owner: str | None, sender: str | None, participants: Sequence[str]) -> None:
    """Refuse a message from anyone but the conversation's owner or a party it allows.

    A conversation without an owner (``owner=None``) takes messages from anyone. One with an
    owner refuses a message that does not say who sends it: a channel that knows who is typing
    must say so.
    """
    if owner is None or sender == owner or (sender is not None and sender in participants):
        return
    if sender is None:
        raise NotParticipant("a message to this conversation must say who sends it")
    raise NotParticipant(f"{sender} may not write in this conversation")


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
    """What the user is told while a turn waits for humans, and that they will hear back.

    The first approver of each request is the one asked first (later ones only on escalation).
    """
    tools = ", ".join(sorted({r.tool for r in requests}))
    asked = list(dict.fromkeys(r.approvers[0] for r in requests if r.approvers))
    if not asked:
        return f"Waiting for approval before running {tools}."
    return (
        f"Waiting for approval before running {tools}. "
        f"I'll let you know when {' and '.join(asked)} decide{'s' if len(asked) == 1 else ''}."
    )
