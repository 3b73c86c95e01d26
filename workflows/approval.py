"""``ApprovalWorkflow``: one human decision on one exact tool call.

It notifies the approval channel, waits for a ``decide`` update, reminds, escalates along the
approver chain and finally expires. The update's validator rejects, before anything enters
history, a decision from someone who is not a current approver (or their delegate during
a leave), from the requester, for another digest, or on an approval that is already decided.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agentflow.binding import ApprovalDecision
    from agentflow.temporal.contracts import (
        ApprovalNotice,
        ApprovalResult,
        ApprovalStatus,
        ApprovalVote,
        ApprovalWorkflowInput,
        NoticeKind,
    )

NOTIFY_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="ApprovalWorkflow")
class ApprovalWorkflow:
    @workflow.init
    def __init__(self, input: ApprovalWorkflowInput) -> None:
        self._input = input
        self._request = input.request
        self._level = 0
        self._reminders = 0
        self._result: ApprovalResult | None = None

    @property
    def _current_approvers(self) -> tuple[str, ...]:
        return self._request.approvers[: self._level + 1]

    @workflow.run
    async def run(self, input: ApprovalWorkflowInput) -> ApprovalResult:
        await self._notify("requested")
        timers = input.timers
        if await self._decided_within(timers.remind_after):
            return await self._finish()
        self._reminders += 1
        await self._notify("reminder")
        if await self._decided_within(timers.escalate_after):
            return await self._finish()
        if self._level + 1 < len(self._request.approvers):
            self._level += 1
            await self._notify("escalated")
        if await self._decided_within(timers.expire_after):
            return await self._finish()
        self._result = ApprovalResult(
            decision=ApprovalDecision(
                digest=self._request.digest, outcome="expired", reason="nobody decided in time"
            ),
            decided_at=workflow.now(),
            escalation_level=self._level,
        )
        await self._notify("expired")
        return self._result

    @workflow.update
    def decide(self, vote: ApprovalVote) -> ApprovalResult:
        # A delegate decides under the authority of the approver they stand in for: that
        # approver is who the runtime checks against the chain; the delegate is kept apart.
        authority = vote.delegation.approver if vote.delegation else vote.approver
        self._result = ApprovalResult(
            decision=ApprovalDecision(
                digest=vote.digest,
                outcome="approved" if vote.approve else "denied",
                approver=authority,
                reason=vote.reason,
            ),
            decided_at=workflow.now(),
            escalation_level=self._level,
            decided_by=vote.approver,
        )
        return self._result

    @decide.validator
    def _validate_vote(self, vote: ApprovalVote) -> None:
        request = self._request
        if self._result is not None:
            raise ValueError(f"this approval is already {self._result.decision.outcome}")
        if vote.digest != request.digest:
            raise ValueError("the decision is for a different call (digest mismatch)")
        if vote.approver == request.requester:
            raise ValueError("a requester cannot approve their own request")
        if vote.delegation is not None:
            self._validate_delegation(vote)
        elif vote.approver not in self._current_approvers:
            # Fail closed: a request that names no approver can be decided by nobody.
            raise ValueError(f"{vote.approver} is not an authorised approver for this request")
        if not vote.approve and not vote.reason.strip():
            raise ValueError("a denial needs a reason")

    def _validate_delegation(self, vote: ApprovalVote) -> None:
        """A delegate may stand in only for a current approver, and only during the leave."""
        delegation = vote.delegation
        assert delegation is not None
        if delegation.delegate != vote.approver:
            raise ValueError(f"{vote.approver} is not the delegate named in the vote")
        if delegation.approver == self._request.requester:
            raise ValueError("a requester cannot approve their own request through a delegate")
        if delegation.approver not in self._current_approvers:
            raise ValueError(
                f"{delegation.approver} is not an authorised approver for this request, "
                f"so {vote.approver} cannot decide as their delegate"
            )
        if not delegation.starts <= workflow.now() < delegation.ends:
            raise ValueError(
                f"{vote.approver} is not {delegation.approver}'s delegate now (the leave is over "
                "or has not started)"
            )

    @workflow.query
    def status(self) -> ApprovalStatus:
        state = "pending" if self._result is None else self._result.decision.outcome
        return ApprovalStatus(
            request=self._request,
            state=state,
            current_approvers=self._current_approvers,
            reminders_sent=self._reminders,
            escalation_level=self._level,
        )

    async def _decided_within(self, delay: timedelta) -> bool:
        try:
            await workflow.wait_condition(lambda: self._result is not None, timeout=delay)
        except TimeoutError:
            return False
        return True

    async def _finish(self) -> ApprovalResult:
        assert self._result is not None
        await self._notify("decided")
        return self._result

    async def _notify(self, kind: NoticeKind) -> None:
        notice = ApprovalNotice(
            kind=kind,
            workflow_id=workflow.info().workflow_id,
            conversation_id=self._input.conversation_id,
            request=self._request,
            approvers=self._current_approvers,
            decision=None if self._result is None else self._result.decision,
            result=self._result,
        )
        await workflow.execute_activity(
            "agentflow.notify_approval",
            notice,
            start_to_close_timeout=NOTIFY_TIMEOUT,
        )
