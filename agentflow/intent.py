"""Audit before act: the record of a call's intent is durable before the call's body runs.

"Why did the agent book this?" has an answer only if the booking's record exists. Recording
after the fact (spans written in the background) loses it exactly when it matters: a store that
refuses writes, a process killed between the effect and the export. So `invoke_tool`
(`agentflow.execution`, the one path to a tool body) calls `record_before_act` once a
call is allowed, immediately before its body: the `IntentLog` writes the call (tool,
arguments, digest, who asks, the approval that allowed it) and returns only once it is durably
stored. If it cannot, the body does not run and the call is refused with `REFUSAL`.

A side-effecting tool is always refused when its intent cannot be recorded. A read-only one is
refused too unless the log says ``read_only="continue"``: then the failure is logged and the
call goes on (a search that changes nothing may matter less than the answer).

Where the log comes from: in-process, an [`AuditHandler`][agentflow.audit.AuditHandler] among an
agent's event handlers; on Temporal, the worker's tracer provider (its audit store). Without an
audit store there is nothing to record into, and nothing is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from agentflow.binding import ApprovalDecision, call_digest, canonical_arguments
from agentflow.context import RunContext
from agentflow.tools import Tool

ReadOnlyPolicy = Literal["refuse", "continue"]
"""What a read-only call does when its intent cannot be recorded."""

REFUSAL = "the audit trail could not record this call, so it was not made"
"""The start of the reason a call is refused with when its intent could not be recorded."""

log = logging.getLogger("agentflow.audit")


@dataclass(frozen=True, kw_only=True)
class Intent:
    """A call about to run: what the record written before its body says."""

    tool: str
    call_id: str
    arguments: dict[str, Any]
    """The validated arguments, canonical (what the body will get)."""
    digest: str
    """[`call_digest`][agentflow.call_digest] of ``tool`` and ``arguments``."""
    side_effects: bool
    user: str | None
    conversation_id: str
    approval: ApprovalDecision | None
    """The approval that allowed the call, if it needed one."""


@runtime_checkable
class IntentLog(Protocol):
    """Writes an `Intent` durably: returns once it is stored, raises if it cannot be."""

    read_only: ReadOnlyPolicy

    async def record_intent(self, intent: Intent) -> None: ...


def intent_of(tool: Tool[Any], ctx: RunContext[Any], args: BaseModel, digest: str = "") -> Intent:
    """The intent of running ``tool`` on ``args`` in ``ctx`` (``digest``: when already known)."""
    arguments = canonical_arguments(args)
    return Intent(
        tool=tool.name,
        call_id=ctx.tool_call_id,
        arguments=arguments,
        digest=digest or call_digest(tool.name, arguments),
        side_effects=tool.side_effects,
        user=ctx.user,
        conversation_id=ctx.conversation_id,
        approval=ctx.approval,
    )


async def record_before_act(intents: IntentLog, intent: Intent) -> str | None:
    """``None`` when the body may run; otherwise why it may not (a one-line refusal)."""
    try:
        await intents.record_intent(intent)
    except Exception as exc:
        cause = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        if not intent.side_effects and intents.read_only == "continue":
            log.warning("%s ran without a record of its intent: %s", intent.tool, cause)
            return None
        log.error("%s was refused: its intent could not be recorded: %s", intent.tool, cause)
        return f"{REFUSAL} (the audit store refused the write: {type(exc).__name__})"
    return None
