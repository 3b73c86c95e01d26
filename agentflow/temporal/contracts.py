"""The typed inputs and outputs of agentflow's workflows, updates, queries and activities.

One pydantic model per workflow run, update and activity (the pydantic data converter carries
them), kept in a module that imports nothing but pydantic and agentflow's own data types, so
that workflow code can import it inside the sandbox.

The approval workflow's votes, results, status and notices are approval domain types: they live
in `agentflow.approvals.records` and are importable from here as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    field_serializer,
    field_validator,
)
from typing_extensions import TypeVar

from agentflow.approvals.records import (
    ApprovalNotice,
    ApprovalResult,
    ApprovalStatus,
    ApprovalVote,
    Delegation,
    NoticeKind,
    VoteSignature,
)
from agentflow.binding import ApprovalDecision, ApprovalRequest, call_digest
from agentflow.exceptions import OutputUnavailable
from agentflow.loop import LoopState, Status, ToolCall
from agentflow.messages import Attachment, Message, ModelRequest, Usage
from agentflow.outcomes import ToolOutcome
from agentflow.temporal.transcripts import TranscriptRef

T = TypeVar("T")

AGENT_WORKFLOW = "AgentWorkflow"
"""The conversation workflow's type name (``workflows.agent``)."""
APPROVAL_WORKFLOW = "ApprovalWorkflow"
"""The approval workflow's type name (``workflows.approval``): a conversation starts its
approvals by this name, so that its module loads only where an approval runs."""

REOPEN_QUERY = "reopen_input"
"""The query a conversation that ended idle answers with the input its next run starts from."""

__all__ = [
    # the workflows' type names
    "AGENT_WORKFLOW",
    "APPROVAL_WORKFLOW",
    "REOPEN_QUERY",
    # the conversation
    "AgentReply",
    "AgentWorkflowInput",
    "DurableOptions",
    "InboundMessage",
    "SendMessage",
    "Step",
    "StepKind",
    "Transcript",
    "WaitForTurn",
    # activities
    "ApproverCheck",
    "EditCheck",
    "ModelCallInput",
    "ToolCallInput",
    "ToolCallResult",
    "VoteCheck",
    # approvals
    "ApprovalTimers",
    "ApprovalWorkflowInput",
    # approval records, re-exported from their home (agentflow.approvals.records)
    "ApprovalNotice",
    "ApprovalResult",
    "ApprovalStatus",
    "ApprovalVote",
    "Delegation",
    "NoticeKind",
    "VoteSignature",
]


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True)


class ApprovalTimers(_Contract):
    """When an approval reminds, escalates to the next approver, and finally expires.

    Each delay starts when the previous phase ends: the defaults remind after 4 hours, escalate
    4 hours later (8 h after the request) and expire a day after that.
    """

    remind_after: timedelta = timedelta(hours=4)
    escalate_after: timedelta = timedelta(hours=4)
    expire_after: timedelta = timedelta(hours=24)


class DurableOptions(_Contract):
    """How a conversation runs on Temporal."""

    model_timeout: timedelta = timedelta(minutes=5)
    tool_timeout: timedelta = timedelta(minutes=2)
    tool_attempts: int = Field(default=5, ge=1)
    """Attempts per tool activity; safe for side effects because of the idempotency key."""
    approval: ApprovalTimers = ApprovalTimers()
    idle_timeout: timedelta | None = None
    """How long a conversation with no turn running waits for the next message before it
    ends, so that it holds no worker memory; the next message sent
    with [`AgentClient`][agentflow.temporal.AgentClient] starts it again where it was. ``None``: it
    waits for ever."""
    continue_as_new_after_messages: int = Field(default=200, ge=4)
    """Messages a run adds before the conversation continues as new: between turns, or within a
    long turn between two steps, once the run has added this many (the history it holds).
    Counted per run, not over the whole transcript: a long conversation does not continue as
    new after every turn, each time copying its state into history again."""
    local_read_only_tools: bool = False
    """Run the calls of read-only tools ([`Tool.read_only`][agentflow.Tool.read_only]: no side
    effects, no preconditions) as Temporal local activities: in the worker that runs the
    conversation's workflow task, recorded as a marker with their result, with no activity task
    for the server to schedule, dispatch and record. A conversation then costs the server fewer
    round trips and history events than one activity per step. Tools with side effects or
    preconditions always run as activities. A local activity is retried by the worker and runs
    again if the worker is lost before its result is recorded: harmless for a read-only tool."""


class AgentWorkflowInput(_Contract):
    agent: str
    """The registered agent's name (see [`agentflow.temporal.register_agent`][])."""
    user: str | None = None
    """The conversation's owner: the agent acts for them, and only they may write in it."""
    participants: tuple[str, ...] = ()
    """Others who may write in the conversation (the agent acts for ``user`` all the same)."""
    options: DurableOptions = DurableOptions()
    # Carried across continue_as_new:
    state: LoopState | None = None
    pending_messages: tuple[InboundMessage, ...] = ()
    next_turn: int = 1
    step_offset: int = 0
    resume_turn: int | None = None
    """A turn the previous run handed over between two steps: this run goes on with it."""
    turn_started_ns: int | None = None
    """When ``resume_turn`` started (workflow time, ns), for the span that covers the turn."""
    turn_usage: Usage = Usage()
    """What ``resume_turn``'s model calls have used so far."""
    transcript_epoch: int = 0
    """See `agentflow.temporal.transcripts.TranscriptRef`."""
    recent_replies: tuple[AgentReply, ...] = ()
    """The final replies of the latest turns, for callers still waiting on one of them."""
    reopened_from: str | None = None
    """The run that ended idle and this one carries on from (its ``reopen_input`` query, or in
    runs closed before, its result, was this input)."""


class InboundMessage(_Contract):
    turn: int
    text: str
    attachments: tuple[Attachment, ...] = ()
    sender: str | None = None
    """Who wrote it (see `SendMessage`); ``None`` in older histories: the owner."""


class SendMessage(_Contract):
    text: str
    sender: str | None = None
    """Who typed the message, as the channel authenticated them (see ``check_sender``)."""
    attachments: tuple[Attachment, ...] = ()
    """Images and PDFs sent with the text (checked by the update's validator)."""


class WaitForTurn(_Contract):
    turn: int


class AgentReply(_Contract):
    """The agent's answer to one user message (one turn).

    ``status`` is ``awaiting_approval`` while a human decision is pending: the turn goes on in
    the workflow, and `WaitForTurn` returns its final reply.
    """

    turn: int
    status: Status
    output: str
    approvals: tuple[ApprovalRequest, ...] = ()
    value: Any = None
    """A structured agent's validated answer, as JSON data, when the turn completed: read it
    with [`parsed`][agentflow.temporal.AgentReply.parsed]."""
    usage: Usage = Usage()
    """The tokens the turn's model calls used (so far, while it awaits an approval)."""

    def parsed(self, output_type: type[T]) -> T:
        """The answer as ``output_type`` (the agent's); `OutputUnavailable` without one."""
        if self.value is None or self.status != "completed":
            raise OutputUnavailable(
                f"turn {self.turn} ended with status {self.status!r} and no answer: {self.output}"
            )
        return TypeAdapter(output_type).validate_python(self.value)

    continued: bool = False
    """The turn goes on in the conversation's next run (it continued as new between two steps):
    not an answer yet; `WaitForTurn` on the conversation returns it
    ([`AgentClient`][agentflow.temporal.AgentClient] waits on by itself)."""


StepKind = Literal[
    "user_message", "model_call", "tool_call", "approval_requested", "approval_decided", "reply"
]


class Step(_Contract):
    """One thing that happened, for clients that stream a conversation's progress."""

    index: int
    turn: int
    kind: StepKind
    summary: str
    data: dict[str, Any] = Field(default_factory=dict[str, Any])


class Transcript(_Contract):
    """A conversation as the workflow holds it: its messages and the approvals it waits on."""

    messages: tuple[Message, ...]
    pending_approvals: tuple[ApprovalRequest, ...]


class ModelCallInput(_Contract):
    agent: str
    request: ModelRequest
    transcript: TranscriptRef | None = None
    """When set, ``request`` carries only the messages after those this names, and the agent's
    system prompt and tools are the registered agent's (see
    `agentflow.temporal.transcripts`); histories recorded before carry it all."""


class ToolCallInput(_Contract):
    agent: str
    call: ToolCall
    user: str | None
    conversation_id: str = ""
    """The conversation; empty: the workflow that scheduled the call (histories recorded before
    name it)."""
    messages: tuple[Message, ...] = ()
    """The transcript, or with ``transcript`` set only the messages after those it names."""
    latest_user_message: str = ""
    """What the user said to start the current run: histories recorded before carry it here,
    later ones say where it is in the transcript (``run_start``)."""
    transcript: TranscriptRef | None = None
    run_start: int = 0
    """The index of the current run's user message in the transcript, whose text is the latest
    user message (see `agentflow.LoopState.run_start`), where ``latest_user_message`` is empty (a
    user message never is)."""

    @field_serializer("call", mode="wrap")
    def _without_digest(self, call: ToolCall, handler: SerializerFunctionWrapHandler) -> Any:
        # The digest is the call's name and arguments, digested: a payload leaves it out, and
        # reading one puts it back (`_digested`).
        data: Any = handler(call)
        if isinstance(data, dict):
            cast(dict[str, Any], data).pop("digest", None)
        return cast(Any, data)

    @field_validator("call", mode="before")
    @classmethod
    def _digested(cls, call: Any) -> Any:
        if isinstance(call, dict) and "digest" not in call:
            data = cast(dict[str, Any], call)
            return {**data, "digest": call_digest(data["name"], data["arguments"])}
        return cast(Any, call)

    def latest_user_text(self, messages: Sequence[Message]) -> str:
        """The latest user message, given the whole transcript."""
        return self.latest_user_message or messages[self.run_start].text


class ToolCallResult(_Contract):
    outcome: ToolOutcome


class ApprovalWorkflowInput(_Contract):
    request: ApprovalRequest
    conversation_id: str
    timers: ApprovalTimers = ApprovalTimers()
    agent: str = ""
    """The registered agent whose tool the request is for: an approver's edit is checked
    against that tool's arguments model and preconditions (no agent: edits are refused)."""
    messages: tuple[Message, ...] = ()
    """The conversation when the call was proposed: rules that read it judge an edit on it.
    With ``transcript`` set, only the messages after those it names."""
    latest_user_message: str = ""
    """What the requester last said when the call was proposed (see ``RunContext``)."""
    transcript: TranscriptRef | None = None
    """What ``messages`` leaves out (see `agentflow.temporal.transcripts`)."""


class VoteCheck(_Contract):
    """Input of the ``agentflow.verify_vote`` activity: did a desk sign this vote just now?"""

    approval_id: str
    vote: ApprovalVote


class ApproverCheck(_Contract):
    """Input of the ``agentflow.check_approver`` activity: may ``employee`` stand in now?"""

    employee: str
    approvers: tuple[str, ...]
    """The approvers ``employee`` claims to stand in for one of (the stage's current ones)."""
    requester: str | None
    at: datetime | None = None
    """When the workflow counts the vote (its own clock), so that the look-up judges the leave at
    the moment the workflow checks it; ``None`` in older histories: the worker's clock."""


class EditCheck(_Contract):
    """Input of the ``agentflow.check_edit`` activity: is this edit of the request allowed?"""

    agent: str
    request: ApprovalRequest
    changes: dict[str, Any]
    approval: ApprovalDecision
    """The approving decision without the edit (authority, approvals per stage)."""
    conversation_id: str = ""
    messages: tuple[Message, ...] = ()
    latest_user_message: str = ""
    transcript: TranscriptRef | None = None


AgentWorkflowInput.model_rebuild()
