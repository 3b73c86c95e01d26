"""What an approval is bound to: one tool, one set of validated arguments, one digest.

The digest is SHA-256 over the canonical JSON of ``{"arguments": ..., "tool": ...}`` (sorted
keys, no insignificant whitespace, UTF-8). A changed price, flight or date is a different digest,
so an approval given for one call can never authorise another.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""What ``json.dumps`` would build on every call with these options; it keeps no state."""


def canonical_json(value: Any) -> str:
    """Serialise JSON-compatible data the same way every time (the input of a digest)."""
    return _CANONICAL.encode(value)


def call_digest(tool: str, arguments: dict[str, Any]) -> str:
    """SHA-256 hex digest of a tool call with its validated, JSON-mode arguments."""
    payload = canonical_json({"arguments": arguments, "tool": tool})
    return hashlib.sha256(payload.encode()).hexdigest()


class ApprovalRequest(BaseModel):
    """A human decision the runtime needs before it may execute exactly this call."""

    model_config = ConfigDict(frozen=True)

    tool: str
    tool_call_id: str
    arguments: dict[str, Any]
    digest: str
    requester: str | None
    approvers: tuple[str, ...] = ()
    """Who may decide; empty means the approval channel decides who is authorised."""
    reasons: tuple[str, ...] = ()
    """Why approval is needed: the text of every rule that asked for it."""


class ApprovalDecision(BaseModel):
    """A decision on one :class:`ApprovalRequest`, identified by its digest."""

    model_config = ConfigDict(frozen=True)

    digest: str
    outcome: Literal["approved", "denied", "expired"]
    approver: str | None = None
    reason: str = ""

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"
