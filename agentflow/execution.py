"""The only path from a tool call to a tool body: validate, evaluate preconditions, then run.

Both drivers (in-process and Temporal activity) call :func:`invoke_tool`; there is no other
caller of :meth:`Tool.call`, so no path runs a tool around its preconditions.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agentflow.binding import ApprovalRequest, call_digest
from agentflow.context import RunContext
from agentflow.events import EventHandler, PreconditionChecked
from agentflow.exceptions import InvalidArguments, ModelRetry
from agentflow.loop import ToolCall
from agentflow.outcomes import ToolDenied, ToolFailed, ToolNeedsApproval, ToolOutcome, ToolReturned
from agentflow.preconditions import ALLOW, Allow, Deny, Evaluation, NeedsApproval
from agentflow.tools import Tool, serialize_result

_NO_RULES = Evaluation(ALLOW, ())


async def invoke_tool(
    tool: Tool[Any],
    ctx: RunContext[Any],
    call: ToolCall,
    *,
    emit: EventHandler | None = None,
    validated: BaseModel | None = None,
) -> ToolOutcome:
    """Execute ``call`` if and only if its preconditions allow it (or its approval matches).

    ``validated`` lets an in-process driver hand over the arguments the loop has just validated;
    any other caller (an activity reading history) has them validated again here.
    """
    if validated is not None and type(validated) is tool.args_model:
        args = validated
    else:
        try:
            args = tool.validate(call.arguments)
        except InvalidArguments as exc:
            return ToolDenied(call_id=call.id, reasons=(exc.message,))
    evaluation = await tool.requires.evaluate(ctx, args) if tool.requires else _NO_RULES
    digest = ""
    if ctx.approval is not None or isinstance(evaluation.decision, NeedsApproval):
        # Recompute from what would actually run: the digest carried by the call is not trusted.
        digest = call_digest(tool.name, args.model_dump(mode="json"))
    decision, approved_by = _apply_approval(evaluation.decision, ctx, digest)
    if emit is not None:
        emit(PreconditionChecked(call=call, evaluation=evaluation, approved_by=approved_by))

    match decision:
        case Deny(reasons=reasons):
            return ToolDenied(call_id=call.id, reasons=reasons)
        case NeedsApproval(reasons=reasons, approvers=approvers):
            request = ApprovalRequest(
                tool=tool.name,
                tool_call_id=call.id,
                arguments=call.arguments,
                digest=digest,
                requester=ctx.user,
                approvers=approvers,
                reasons=reasons,
            )
            return ToolNeedsApproval(call_id=call.id, request=request)
        case Allow():
            pass
    try:
        value = await tool.call(ctx, args)
    except ModelRetry as exc:
        return ToolFailed(call_id=call.id, message=exc.message)
    return ToolReturned(call_id=call.id, content=serialize_result(value))


def _apply_approval(
    decision: Allow | Deny | NeedsApproval, ctx: RunContext[Any], digest: str
) -> tuple[Allow | Deny | NeedsApproval, str | None]:
    """Let an approval turn ``NeedsApproval`` into ``Allow``, and nothing more.

    Never over a ``Deny``, and only when it is for this digest, approved, and decided by someone
    other than the requester who is among the approvers the rule named (none named: nobody).
    """
    approval = ctx.approval
    if not isinstance(decision, NeedsApproval) or approval is None:
        return decision, None
    problems: list[str] = []
    if approval.digest != digest:
        problems.append("the approval was given for different arguments")
    if not approval.approved:
        problems.append(f"the approval request was {approval.outcome}")
    if approval.approver is None or approval.approver == ctx.user:
        problems.append("a request cannot be approved by its requester or by nobody")
    elif approval.approver not in decision.approvers:
        # Fail closed: a rule that names no approver lets nobody approve.
        problems.append(f"{approval.approver} is not an authorised approver for this call")
    if problems:
        return Deny(*problems), None
    return ALLOW, approval.approver
