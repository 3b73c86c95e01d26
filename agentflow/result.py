"""What a run returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, cast

from agentflow.binding import ApprovalRequest
from agentflow.exceptions import OutputUnavailable
from agentflow.loop import LoopState, Status
from agentflow.messages import Message, Usage
from agentflow.output import OutputT

NO_OUTPUT: Any = object()
"""The ``value`` of a structured agent's run that ended without an answer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult(Generic[OutputT]):
    """The end of one run. ``state`` continues the conversation (``Agent.run(..., state=)``).

    ``text`` is what the user is told, whatever the status. ``output`` is the answer typed as the
    agent's ``output_type``: for a ``str`` agent the same as ``text``; for a structured one the
    validated value, which only a ``completed`` run has.
    """

    text: str
    status: Status
    conversation_id: str
    state: LoopState
    pending_approvals: tuple[ApprovalRequest, ...] = ()
    value: Any = NO_OUTPUT
    """The validated answer; left unset by a run of a structured agent that did not complete."""

    @property
    def output(self) -> OutputT:
        """The answer; `OutputUnavailable` when a structured agent's run did not complete."""
        if self.value is NO_OUTPUT:
            raise OutputUnavailable(
                f"the run ended with status {self.status!r} and no answer: {self.text}"
            )
        return cast(OutputT, self.value)

    @property
    def messages(self) -> list[Message]:
        return self.state.messages

    @property
    def usage(self) -> Usage:
        return self.state.run_usage

    @property
    def steps(self) -> int:
        return self.state.run_steps
