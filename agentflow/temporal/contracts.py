"""The typed inputs and outputs of agentflow's workflows, updates, queries and activities.

One pydantic model per workflow run, update and activity (the pydantic data converter carries
them), kept in a module that imports nothing but pydantic and agentflow's own data types, so
that workflow code can import it inside the sandbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentflow.approvals.signing import VoteSignature
from agentflow.binding import ApprovalDecision, ApprovalRequest
from agentflow.loop import LoopState, Status, ToolCall
from agentflow.messages import Message, ModelRequest
from agentflow.outcomes import ToolOutcome


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
    continue_as_new_after_messages: int = Field(default=200, ge=4)


class AgentWorkflowInput(_Contract):
    agent: str
    """The registered agent's name (see :func:`agentflow.temporal.register_agent`)."""
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


class InboundMessage(_Contract):
    turn: int
    text: str


class SendMessage(_Contract):
    text: str
    sender: str | None = None
    """Who typed the message, as the channel authenticated them (see ``check_sender``)."""


class WaitForTurn(_Contract):
    turn: int


class AgentReply(_Contract):
    """The agent's answer to one user message (one turn).

    ``status`` is ``awaiting_approval`` while a human decision is pending: the turn goes on in
    the workflow, and :class:`WaitForTurn` returns its final reply.
    """

    turn: int
    status: Status
    output: str
    approvals: tuple[ApprovalRequest, ...] = ()


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
    messages: tuple[Message, ...]
    pending_approvals: tuple[ApprovalRequest, ...]


class ModelCallInput(_Contract):
    agent: str
    request: ModelRequest


class ToolCallInput(_Contract):
    agent: str
    call: ToolCall
    user: str | None
    conversation_id: str
    messages: tuple[Message, ...] = ()
    latest_user_message: str = ""


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
    """The conversation when the call was proposed: rules that read it judge an edit on it."""
    latest_user_message: str = ""
    """What the requester last said when the call was proposed (see ``RunContext``)."""


class Delegation(_Contract):
    """``delegate`` may decide in ``approver``'s place from ``starts`` until ``ends`` (leave).

    Resolved from the org chart when the vote is made. In a vote it is only a claim: the
    approval workflow reads the delegation from the org chart again (``agentflow.check_approver``)
    and checks the window against its own clock before it counts the vote.
    """

    approver: str
    delegate: str
    starts: datetime
    ends: datetime


class ApprovalVote(_Contract):
    """A human decision, as sent to :meth:`ApprovalWorkflow.decide`."""

    digest: str
    approver: str
    """Who decides: a current approver, or the delegate named in ``delegation``."""
    approve: bool
    reason: str = ""
    delegation: Delegation | None = None
    """Set when ``approver`` decides as the delegate of an approver on leave: a claim, which
    the workflow verifies against the org chart before it counts the vote."""
    edit: dict[str, Any] | None = None
    """Arguments the approver changes before approving (only those the request lets them)."""
    signature: VoteSignature | None = None
    """The desk's signature, which a worker verifies before the vote counts."""


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


class ApprovalResult(_Contract):
    decision: ApprovalDecision
    """``decision.approver`` is the authority (the approver in the chain) the call runs under."""
    decided_at: datetime
    escalation_level: int = 0
    decided_by: str | None = None
    """The person who decided: the approver, or their delegate (see ``decision.approver``)."""
    complete: bool = True
    """``False`` for a vote that was counted while the approval needs more (another approver
    of the stage, or a later stage): ``decision`` then reports that vote, not an outcome."""


class ApprovalStatus(_Contract):
    request: ApprovalRequest
    state: Literal["pending", "approved", "denied", "expired"]
    current_approvers: tuple[str, ...]
    reminders_sent: int
    escalation_level: int
    stage: int = 0
    """The stage now collecting votes (0-based; see ``request.plan()``)."""
    approved_by: tuple[tuple[str, ...], ...] = ()
    """Per stage so far, the authorities who approved."""


NoticeKind = Literal["requested", "reminder", "escalated", "decided", "expired"]


class ApprovalNotice(_Contract):
    """What the approval channel is told to show or send."""

    kind: NoticeKind
    workflow_id: str
    conversation_id: str
    request: ApprovalRequest
    approvers: tuple[str, ...]
    decision: ApprovalDecision | None = None
    result: ApprovalResult | None = None
    """The full result (who decided, when) once the approval is decided or expired."""


AgentWorkflowInput.model_rebuild()
