"""What a run returns."""

from __future__ import annotations

from dataclasses import dataclass

from agentflow.binding import ApprovalRequest
from agentflow.loop import LoopState, Status
from agentflow.messages import Message, Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The end of one run. ``state`` continues the conversation (``Agent.run(..., state=)``)."""

    output: str
    status: Status
    conversation_id: str
    state: LoopState
    pending_approvals: tuple[ApprovalRequest, ...] = ()

    @property
    def messages(self) -> list[Message]:
        return self.state.messages

    @property
    def usage(self) -> Usage:
        return self.state.run_usage

    @property
    def steps(self) -> int:
        return self.state.run_steps
