"""What an approval's life is made of: votes, results, status, notices, and where notices go.

These are approval domain types: the desk, the ledger, the channels, the audit trail and the
CLI speak them, and the approval workflow carries them (the pydantic data converter serialises
them). A leaf module: it imports nothing but pydantic and `agentflow.binding`, so workflow
code may import it inside Temporal's sandbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from agentflow.binding import ApprovalDecision, ApprovalRequest

__all__ = [
    "ApprovalChannel",
    "ApprovalNotice",
    "ApprovalResult",
    "ApprovalStatus",
    "ApprovalVote",
    "Delegation",
    "NoticeKind",
    "VoteSignature",
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Delegation(_Record):
    """``delegate`` may decide in ``approver``'s place from ``starts`` until ``ends`` (leave).

    Resolved from the org chart when the vote is made. In a vote it is only a claim: the
    approval workflow reads the delegation from the org chart again (``agentflow.check_approver``)
    and checks the window against its own clock before it counts the vote.
    """

    approver: str
    delegate: str
    starts: datetime
    ends: datetime


class VoteSignature(_Record):
    """An approval desk's signature of a vote (see `agentflow.approvals.signing`)."""

    key_id: str
    issued_at: datetime
    nonce: str
    """Random, once per signature: a vote is counted once, however often it is sent."""
    mac: str


class ApprovalVote(_Record):
    """A human decision, as sent to `ApprovalWorkflow.decide`."""

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


class ApprovalResult(_Record):
    decision: ApprovalDecision
    """``decision.approver`` is the authority (the approver in the chain) the call runs under."""
    decided_at: datetime
    escalation_level: int = 0
    decided_by: str | None = None
    """The person who decided: the approver, or their delegate (see ``decision.approver``)."""
    complete: bool = True
    """``False`` for a vote that was counted while the approval needs more (another approver
    of the stage, or a later stage): ``decision`` then reports that vote, not an outcome."""


class ApprovalStatus(_Record):
    request: ApprovalRequest
    state: Literal["pending", "approved", "denied", "expired"]
    current_approvers: tuple[str, ...]
    reminders_sent: int
    escalation_level: int
    stage: int = 0
    """The stage now collecting votes (0-based; see ``request.plan()``)."""
    approved_by: tuple[tuple[str, ...], ...] = ()
    """Per stage so far, the authorities who approved."""


NoticeKind = Literal["requested", "reminder", "escalated", "decided", "expired", "voided"]
"""``voided``: an approval given, then refused at execution because the tool's arguments
contract changed meanwhile (a deploy); ``reason`` says so, for the approver."""


class ApprovalNotice(_Record):
    """What the approval channel is told to show or send."""

    kind: NoticeKind
    workflow_id: str
    conversation_id: str
    request: ApprovalRequest
    approvers: tuple[str, ...]
    decision: ApprovalDecision | None = None
    result: ApprovalResult | None = None
    """The full result (who decided, when) once the approval is decided or expired."""
    reason: str = ""
    """Why an approval was voided (``voided`` notices)."""


class ApprovalChannel(Protocol):
    """Where approval requests are shown to humans: Slack, a web inbox, a log.

    The approval workflow calls the channel through an activity for each step of an approval's
    life (requested, reminder, escalated, decided, expired), and the tool call that finds an
    approval voided by a deploy says so (voided). Channels are plain objects with one async
    method; the decision itself always comes back through the workflow's ``decide`` update.
    """

    async def notify(self, notice: ApprovalNotice) -> None: ...
