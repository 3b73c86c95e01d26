"""What happened to one tool call: the executor's answer, fed back into the loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from agentflow.binding import ApprovalRequest
from agentflow.messages import Attachment, keep_tag


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolReturned:
    kind: Literal["returned"] = "returned"
    call_id: str
    content: str
    attachments: tuple[Attachment, ...] = ()
    """Images and PDFs the tool returned (checked like a user's attachments)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolFailed:
    """The tool raised [`agentflow.ModelRetry`][], or failed unexpectedly.

    ``message`` is what the model reads: the ``ModelRetry`` text, or a short sentence that
    carries no stack and no secret. ``detail`` (the exception's type and text) is for the audit
    trail only.
    """

    kind: Literal["failed"] = "failed"
    call_id: str
    message: str
    error_type: str = "ModelRetry"
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDenied:
    """A precondition denied the call; the body did not run."""

    kind: Literal["denied"] = "denied"
    call_id: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolNeedsApproval:
    """A precondition asked for a human decision; the body did not run."""

    kind: Literal["needs_approval"] = "needs_approval"
    call_id: str
    request: ApprovalRequest


ToolOutcome = Annotated[
    ToolReturned | ToolFailed | ToolDenied | ToolNeedsApproval,
    Field(discriminator="kind"),
    keep_tag("kind"),
]
