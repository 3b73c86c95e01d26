"""The only path from a tool call to a tool body: validate, evaluate preconditions, then run.

Both drivers (in-process and Temporal activity) call `invoke_tool`; there is no other
caller of [`Tool.call`][agentflow.Tool.call], so no path runs a tool around its preconditions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from agentflow.approvals.rules import check_edit, contract_problem, stage_problems
from agentflow.binding import ApprovalDecision, ApprovalRequest, call_digest, canonical_arguments
from agentflow.context import RunContext
from agentflow.events import EventHandler, PreconditionChecked
from agentflow.exceptions import ApprovalError, InvalidArguments, ModelRetry
from agentflow.intent import IntentLog, intent_of, record_before_act
from agentflow.loop import ToolCall
from agentflow.outcomes import ToolDenied, ToolFailed, ToolNeedsApproval, ToolOutcome, ToolReturned
from agentflow.preconditions import ALLOW, Allow, Deny, Evaluation, NeedsApproval, refusal
from agentflow.tools import Tool, split_result

_NO_RULES = Evaluation(ALLOW, ())


MAX_ERROR_DETAIL = 2_000
"""Characters of an unexpected exception's text kept for the audit trail."""


async def invoke_tool(
    tool: Tool[Any],
    ctx: RunContext[Any],
    call: ToolCall,
    *,
    emit: EventHandler | None = None,
    validated: BaseModel | None = None,
    raise_errors: bool = False,
    intents: IntentLog | None = None,
) -> ToolOutcome:
    """Execute ``call`` if and only if its preconditions allow it (or its approval matches).

    With ``intents`` (the audit trail), the body runs only once the record of the call's intent
    is durably written; if it cannot be, the call is refused (see `agentflow.intent`).

    ``validated`` lets an in-process driver hand over the arguments the loop has just validated;
    any other caller (an activity reading history) has them validated again here.

    An exception from the body is an answer, not a crash: the model gets a short error result
    (no stack, no secret) and the trail gets the detail, unless ``raise_errors`` lets it
    propagate (to a durable driver's retries, or to a developer who wants to see it).
    """
    if validated is not None and type(validated) is tool.args_model:
        args = validated
    else:
        try:
            args = tool.validate(call.arguments)
        except InvalidArguments as exc:
            return ToolDenied(call_id=call.id, reasons=(exc.message,))
    try:
        evaluation = await tool.requires.evaluate(ctx, args) if tool.requires else _NO_RULES
    except Exception as exc:
        if raise_errors:
            raise
        # A rule that cannot be evaluated refuses (fail closed); the body does not run.
        reason = f"a precondition of {tool.name} could not be checked ({type(exc).__name__})"
        evaluation = Evaluation(Deny(reason), ())
    digest = ""
    if ctx.approval is not None or isinstance(evaluation.decision, NeedsApproval):
        # Recompute from what would actually run: the digest carried by the call is not trusted.
        digest = call_digest(tool.name, canonical_arguments(args))
    decision, approved_by = _apply_approval(evaluation.decision, ctx, digest, tool)
    if emit is not None:
        traced = ctx.provenance.arguments(call.arguments)
        emit(
            PreconditionChecked(
                call=call, evaluation=evaluation, approved_by=approved_by, provenance=traced
            )
        )

    # Fail closed: only Allow runs the body; whatever else the rules answered refuses.
    match decision:
        case Allow():
            if intents is not None:
                refused = await record_before_act(intents, intent_of(tool, ctx, args, digest))
                if refused is not None:
                    return ToolDenied(call_id=call.id, reasons=(refused,))
            return await _run_body(tool, ctx, call, args, raise_errors=raise_errors)
        case NeedsApproval(reasons=reasons, approvers=approvers):
            request = ApprovalRequest(
                tool=tool.name,
                tool_call_id=call.id,
                arguments=call.arguments,
                digest=digest,
                requester=ctx.user,
                conversation_id=ctx.conversation_id,
                approvers=approvers,
                reasons=reasons,
                stages=decision.stages,
                editable=decision.editable,
                provenance=ctx.provenance.arguments(call.arguments).describe(),
                contract=tool.contract,
            )
            return ToolNeedsApproval(call_id=call.id, request=request)
        case _:
            return ToolDenied(call_id=call.id, reasons=refusal(decision))


async def _run_body(
    tool: Tool[Any], ctx: RunContext[Any], call: ToolCall, args: BaseModel, *, raise_errors: bool
) -> ToolOutcome:
    try:
        content, attachments = split_result(await tool.call(ctx, args))
    except ModelRetry as exc:
        return ToolFailed(call_id=call.id, message=exc.message)
    except Exception as exc:
        if raise_errors:
            raise
        return ToolFailed(
            call_id=call.id,
            message=f"{tool.name} failed with an internal error; this call did not complete.",
            error_type=type(exc).__name__,
            detail=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_DETAIL],
        )
    return ToolReturned(call_id=call.id, content=content, attachments=attachments)


def _apply_approval(
    decision: Allow | Deny | NeedsApproval, ctx: RunContext[Any], digest: str, tool: Tool[Any]
) -> tuple[Allow | Deny | NeedsApproval, str | None]:
    """Let an approval turn ``NeedsApproval`` into ``Allow``, and nothing more.

    Never over a ``Deny``, and only when it is for this digest under this version of the tool's
    arguments contract, approved, and every stage the rules ask for now was approved by enough
    distinct people among that stage's approvers, none of them the requester and none counted
    twice (a rule that names no approver: nobody).
    """
    approval = ctx.approval
    if not isinstance(decision, NeedsApproval) or approval is None:
        return decision, None
    problems: list[str] = []
    if (approval.conversation_id, approval.tool_call_id) != (ctx.conversation_id, ctx.tool_call_id):
        problems.append("the approval was given for another call or conversation")
    voided = contract_problem(approval, tool.name, tool.contract)
    if voided is not None:
        problems.append(voided)  # the digest differs too, as a consequence: say the cause
    elif approval.digest != digest:
        problems.append("the approval was given for different arguments")
    if not approval.approved:
        problems.append(f"the approval request was {approval.outcome}")
    problems.extend(stage_problems(decision.plan(), approval, ctx.user))
    if problems:
        return Deny(*problems), None
    return ALLOW, approval.approver


async def approve_with_edits(
    tool: Tool[Any],
    ctx: RunContext[Any],
    request: ApprovalRequest,
    changes: Mapping[str, Any],
    approval: ApprovalDecision,
) -> ApprovalDecision:
    """The decision that approves ``request`` edited by ``changes``, or `ApprovalError`.

    ``ctx`` is the requester's context (their deps, their user); ``approval`` is the approving
    decision as it would be without the edit (authority, stage approvals). The edited call is a
    new request: only the arguments the policy made ``editable`` may change, the result is
    validated against the tool's arguments model, digested anew, and the tool's preconditions
    run on it with this approval bound to the new digest. Anything short of ``Allow`` (a hard
    cap, a rule the approver's authority does not cover) refuses the edit; nothing is changed.
    """
    if request.tool != tool.name:
        raise ApprovalError(f"the request is for {request.tool}, not {tool.name}")
    check_edit(request, changes.keys())
    try:
        args = tool.validate({**request.arguments, **changes})
    except InvalidArguments as exc:
        raise ApprovalError(f"the edited call is invalid: {exc.message}") from None
    arguments = canonical_arguments(args)
    if arguments == request.arguments:
        raise ApprovalError("the edit changes nothing; approve the request as it is")
    digest = call_digest(tool.name, arguments)
    edited = approval.model_copy(
        update={"digest": digest, "edited_from": request.digest, "arguments": arguments}
    )
    if tool.requires is not None:
        evaluation = await tool.requires.evaluate(dataclasses.replace(ctx, approval=edited), args)
        decision, _ = _apply_approval(
            evaluation.decision, dataclasses.replace(ctx, approval=edited), digest, tool
        )
        if not isinstance(decision, Allow):
            raise ApprovalError("the edited call is refused: " + "; ".join(refusal(decision)))
    return edited
