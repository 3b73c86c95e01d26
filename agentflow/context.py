"""What a tool and a precondition see besides their arguments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic

from typing_extensions import TypeVar

from agentflow.binding import ApprovalDecision
from agentflow.messages import Message
from agentflow.provenance import NO_LABELS, Provenance, SourceLabels

DepsT = TypeVar("DepsT", default=None)


@dataclass(kw_only=True, frozen=True)
class RunContext(Generic[DepsT]):
    """Who is asking, in which conversation, with which injected dependencies.

    A tool declares a parameter annotated ``RunContext[MyDeps]`` to receive it; that parameter
    is never part of the schema the model sees, so the model cannot forge who is asking.
    """

    deps: DepsT
    user: str | None = None
    """The authenticated principal on whose behalf the agent acts (never taken from the model)."""
    conversation_id: str = ""
    tool_call_id: str = ""
    messages: Sequence[Message] = field(default_factory=tuple[Message, ...])
    """The conversation so far (on Temporal the worker puts it back together from what it
    has and what the call was sent: see `agentflow.temporal.transcripts`)."""
    latest_user_message: str = ""
    """What the user said in the message that started this run: rules that ask "did the
    employee confirm?" read this, never the transcript (a stale message cannot answer)."""
    approval: ApprovalDecision | None = None
    """The approval granted for this exact call, when there is one."""
    sources: SourceLabels = NO_LABELS
    """How the transcript's values are labelled (the agent's system prompt, its trusted tools)."""

    @cached_property
    def provenance(self) -> Provenance:
        """Where the values of this conversation came from; computed on first use.

        ``ctx.provenance.of(args.iban)`` or ``ctx.provenance.arguments(...)``: see
        `agentflow.provenance` for how values are matched and what that cannot tell.
        """
        return Provenance(self.messages, self.sources)

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of the same call: side-effecting tools must honour it."""
        return f"{self.conversation_id}:{self.tool_call_id}"
