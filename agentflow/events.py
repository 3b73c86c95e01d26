"""Steps of a run, as the streaming API yields them and the audit trail records them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentflow.binding import ApprovalDecision, ApprovalRequest
from agentflow.messages import ModelRequest, ModelResponse
from agentflow.outcomes import ToolOutcome
from agentflow.preconditions import Evaluation
from agentflow.provenance import ArgumentsProvenance

if TYPE_CHECKING:
    from agentflow.loop import ToolCall
    from agentflow.result import RunResult


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCalled:
    request: ModelRequest
    response: ModelResponse
    duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFailed:
    request: ModelRequest
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRetrying:
    """A model call failed in a way that may pass; the adapter waits ``delay_s``, then retries.

    ``attempt`` is the attempt that failed (1 for the first request); ``error`` says what failed.
    """

    attempt: int
    delay_s: float
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta:
    """A piece of the model's answer as it is being written (`Agent.run_stream` only).

    The pieces of one model call add up to the text of its `ModelCalled` event. After a
    `ModelRetrying`, the text of the failed attempt is void and starts again. Event
    handlers (the audit trail) are not sent these: they record whole steps.
    """

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PreconditionChecked:
    call: ToolCall
    evaluation: Evaluation
    approved_by: str | None = None
    """Set when a matching approval turned ``NeedsApproval`` into ``Allow``."""
    provenance: ArgumentsProvenance | None = None
    """Where each argument value came from, as the rules could see it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolExecuted:
    call: ToolCall
    outcome: ToolOutcome
    duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequested:
    request: ApprovalRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalDecided:
    decision: ApprovalDecision


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    result: RunResult[Any]


Event = (
    ModelCalled
    | ModelFailed
    | ModelRetrying
    | TextDelta
    | PreconditionChecked
    | ToolExecuted
    | ApprovalRequested
    | ApprovalDecided
    | RunFinished
)
"""Everything a run reports to its observers, as it happens."""

EventHandler = Callable[[Event], None]
"""Observers (the audit trail, a UI) are plain callables; they must not raise."""
