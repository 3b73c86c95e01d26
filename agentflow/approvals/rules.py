"""The approval rulebook: every rule about who may decide what, written once.

Pure and deterministic (no I/O, no clock), so that the approval workflow's update validator calls
the same functions as the desk that every channel goes through, the loop that takes an
in-process decision, and the executor that runs the approved call. Each check raises
[`ApprovalError`][agentflow.ApprovalError] with the sentence a person is shown.

- `approval_id` / `conversation_of`: the approval id format, built and read here only;
- `check_vote`: a person's vote on a pending request (requester, digest, state, authority,
  a denial's reason, an edit's shape);
- `check_edit`: which arguments an approver may change;
- `stage_problems`: whether the approvals a decision carries fill every stage the rules
  ask for, each with distinct eligible people, none of them the requester.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from agentflow.binding import ApprovalDecision, ApprovalRequest, ApprovalStage
from agentflow.exceptions import ApprovalError

__all__ = [
    "APPROVAL_SEPARATOR",
    "approval_id",
    "check_edit",
    "check_vote",
    "conversation_of",
    "stage_problems",
]

APPROVAL_SEPARATOR = "/approval/"


def approval_id(conversation_id: str, tool_call_id: str) -> str:
    """The id of the approval of one tool call (also its workflow id).

    Deterministic, so a retried start can never create a second approval for one call.
    """
    return f"{conversation_id}{APPROVAL_SEPARATOR}{tool_call_id}"


def conversation_of(approval_id: str) -> str:
    """The conversation an approval belongs to (the inverse of `approval_id`)."""
    return approval_id.rsplit(APPROVAL_SEPARATOR, 1)[0]


def check_edit(request: ApprovalRequest, changed: Collection[str]) -> None:
    """Refuse an edit that changes nothing, or an argument the request does not let change."""
    if not changed:
        raise ApprovalError("an edit must change at least one argument")
    locked = sorted(set(changed) - set(request.editable))
    if locked:
        allowed = ", ".join(request.editable) or "none"
        raise ApprovalError(
            f"the approver may not change {', '.join(locked)} (editable: {allowed})"
        )


def check_vote(
    request: ApprovalRequest,
    *,
    voter: str,
    digest: str,
    approve: bool,
    reason: str,
    edit: Mapping[str, Any] | None,
    decided: str | None,
    voted: Collection[str],
    current_approvers: Sequence[str],
    on_behalf_of: str | None = None,
) -> None:
    """Refuse a vote the approval must not count, before anything changes.

    Args:
        request: the request voted on.
        voter: who votes (the person, even when they stand in for someone).
        digest: the digest of the call the voter was shown.
        approve: approve or deny.
        reason: the voter's reason (a denial needs one).
        edit: arguments the voter changes, if any.
        decided: the approval's outcome when it is no longer pending.
        voted: everyone who has voted so far (as authority or as delegate).
        current_approvers: who may vote now (the stage collecting votes, after escalations).
        on_behalf_of: the approver the voter stands in for, when the voter claims to be a
            delegate; that the claim is true is for the org chart to say, not this function.
    """
    if decided is not None:
        raise ApprovalError(f"this approval is already {decided}")
    if digest != request.digest:
        raise ApprovalError("the decision is for a different call (digest mismatch)")
    if request.requester is not None and request.requester == voter:
        raise ApprovalError("a requester cannot approve their own request")
    if request.requester is not None and request.requester == on_behalf_of:
        raise ApprovalError("a requester cannot approve their own request through a delegate")
    for person in (voter, on_behalf_of):
        if person is not None and person in voted:
            raise ApprovalError(f"{person} has already voted on this request")
    # A request that names no approver (no chain was resolved) is decided by nobody: nobody is
    # in ``current_approvers`` (fail closed).
    if on_behalf_of is not None and on_behalf_of not in current_approvers:
        raise ApprovalError(
            f"{on_behalf_of} is not an authorised approver for this request, "
            f"so {voter} cannot decide as their delegate"
        )
    if on_behalf_of is None and voter not in current_approvers:
        raise ApprovalError(f"{voter} is not an authorised approver for this request")
    if not approve and not reason.strip():
        raise ApprovalError("a denial needs a reason")
    if edit is not None:
        if not approve:
            raise ApprovalError("only an approval can edit the request")
        check_edit(request, edit.keys())


def stage_problems(
    plan: Sequence[ApprovalStage], approval: ApprovalDecision, requester: str | None
) -> list[str]:
    """What is missing for ``approval`` to fill ``plan`` (empty: every stage is filled).

    Every stage must be approved by ``required`` distinct people among its eligible approvers,
    none of them the requester, and nobody counts in two stages. A decision with no approver,
    or whose final approver is the requester, fills nothing.
    """
    given = approval.approvals_by_stage()
    if approval.approver is None or approval.approver == requester:
        return ["a request cannot be approved by its requester or by nobody"]
    if len(given) != len(plan):
        return [f"the approval has {len(given)} stage(s); the rules ask for {len(plan)}"]
    counted: set[str] = set()
    problems: list[str] = []
    for number, (stage, people) in enumerate(zip(plan, given, strict=True), start=1):
        eligible = set(stage.eligible())
        valid = {p for p in people if p in eligible and p != requester} - counted
        if requester is not None and requester in people:
            problems.append("a request cannot be approved by its requester")
        for person in sorted(set(people) - eligible - {requester}):
            problems.append(f"{person} is not an authorised approver for this call")
        if len(valid) < stage.required:
            problems.append(
                f"stage {number} needs {stage.required} distinct approver(s), has {len(valid)}"
            )
        counted |= valid
    return problems


def contract_problem(approval: ApprovalDecision, tool: str, current: str) -> str | None:
    """Why ``approval`` no longer authorises a call of ``tool``, whose contract is ``current``.

    An approval is for a call as the tool's arguments model read it then; a deploy that
    changed that model (an argument added, even optional, or retyped) changes what the same
    arguments mean and digest to. The approval is then void, for this reason rather than a
    vague "different arguments", and the approver is told so. An approval that recorded no
    version (made before versions were recorded) is bound by its digest alone.
    """
    if not approval.contract or approval.contract == current:
        return None
    return (
        f"the approval was voided: {tool} changed since it was approved (its arguments "
        f"contract went from version {approval.contract} to {current}); ask for approval again"
    )
