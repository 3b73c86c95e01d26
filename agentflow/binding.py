"""What an approval is bound to: one tool, one set of validated arguments, one digest.

The digest is SHA-256 over the canonical JSON of ``{"arguments": ..., "tool": ...}`` (sorted
keys, no insignificant whitespace, UTF-8). A changed price, flight or date is a different digest,
so an approval given for one call can never authorise another.

An approver who *edits* a call (a cheaper fare, a lower cabin, within the fields the policy lets
them change) approves a new call: the decision carries the edited arguments and their own
digest, and names the digest it was edited from. Who must approve is a sequence of
stages (:class:`ApprovalStage`: manager, then finance; two of three directors), decided in order.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""What ``json.dumps`` would build on every call with these options; it keeps no state."""


def canonical_json(value: Any) -> str:
    """Serialise JSON-compatible data the same way every time (the input of a digest)."""
    return _CANONICAL.encode(value)


def call_digest(tool: str, arguments: dict[str, Any]) -> str:
    """SHA-256 hex digest of a tool call with its validated, JSON-mode arguments."""
    payload = canonical_json({"arguments": arguments, "tool": tool})
    return hashlib.sha256(payload.encode()).hexdigest()


class ApprovalStage(BaseModel):
    """One step of an approval: ``required`` distinct people among ``approvers`` must approve.

    ``escalate_to`` are added to the stage's approvers, one at a time, each time the stage
    escalates (nobody decided in time), so a manager's silence reaches their director.
    """

    model_config = ConfigDict(frozen=True)

    approvers: tuple[str, ...]
    required: int = Field(default=1, ge=1)
    escalate_to: tuple[str, ...] = ()
    name: str = ""

    def eligible(self, level: int | None = None) -> tuple[str, ...]:
        """Who may vote in this stage after ``level`` escalations (``None``: ever)."""
        extra = self.escalate_to if level is None else self.escalate_to[:level]
        return tuple(dict.fromkeys((*self.approvers, *extra)))


class ApprovalRequest(BaseModel):
    """A human decision the runtime needs before it may execute exactly this call."""

    model_config = ConfigDict(frozen=True)

    tool: str
    tool_call_id: str
    arguments: dict[str, Any]
    digest: str
    requester: str | None
    approvers: tuple[str, ...] = ()
    """The escalation chain of a one-stage approval (nearest first); with ``stages``, everyone
    named in them. Empty (and no stages): nobody may decide."""
    reasons: tuple[str, ...] = ()
    """Why approval is needed: the text of every rule that asked for it."""
    stages: tuple[ApprovalStage, ...] = ()
    """Ordered stages; empty means one stage: ``approvers[0]``, escalating along the rest."""
    editable: tuple[str, ...] = ()
    """Argument names an approver may change before approving (the policy's choice)."""

    def plan(self) -> tuple[ApprovalStage, ...]:
        """The stages to collect, in order (see :attr:`stages`)."""
        if self.stages:
            return self.stages
        return (ApprovalStage(approvers=self.approvers[:1], escalate_to=self.approvers[1:]),)


class ApprovalDecision(BaseModel):
    """A decision on one :class:`ApprovalRequest`, identified by its digest."""

    model_config = ConfigDict(frozen=True)

    digest: str
    """The digest of the call this decision is about: the edited call when ``edited_from``."""
    outcome: Literal["approved", "denied", "expired"]
    approver: str | None = None
    """The authority of the last vote (the one that completed or ended the approval)."""
    reason: str = ""
    stage_approvals: tuple[tuple[str, ...], ...] = ()
    """Per stage, the authorities who approved; empty means ``((approver,),)``."""
    edited_from: str | None = None
    """The digest of the proposed call, when the approver edited it into this one."""
    arguments: dict[str, Any] | None = None
    """The edited call's validated arguments (set exactly when ``edited_from`` is)."""

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"

    @property
    def request_digest(self) -> str:
        """The digest of the request this decision answers (before any edit)."""
        return self.edited_from or self.digest

    def approvals_by_stage(self) -> tuple[tuple[str, ...], ...]:
        if self.stage_approvals:
            return self.stage_approvals
        return ((self.approver,),) if self.approver else ()
