"""``ApprovalWorkflow``: the human decisions one exact tool call needs.

It collects the request's stages in order (``request.plan()``: manager, then a director above
their limit; two of three directors): each stage notifies its approvers, waits for ``decide``
updates, reminds, escalates along the stage's ``escalate_to`` and finally expires. A denial at
any stage ends the approval; a stage is done when ``required`` distinct people approved, and
nobody (as approver or as delegate) counts twice.

Who may vote is checked in two places:

- the update's validator rejects, before anything enters history, a vote from the requester,
  for another digest, on a decided approval, from someone who already voted, from someone who is
  not a current approver and claims no delegation, or whose edit touches a locked argument;
- the update's handler checks what only the application's database knows, through activities
  (a validator cannot run one). A vote that claims to stand in for an approver on leave is
  counted only if the org chart (``agentflow.check_approver``) names the voter as that
  approver's delegate now: the claim in the vote is never trusted, since anyone able to send
  Temporal updates could write one. An edit is counted only if ``agentflow.check_edit`` finds the
  edited call valid and allowed by the tool's preconditions under this approval. When a check
  refuses, the update fails with an ``ApplicationError`` and the workflow's state is unchanged
  (the refused update is in history, as accepted then failed: the audit of an attempt).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from agentflow.approvals.records import (
        ApprovalNotice,
        ApprovalResult,
        ApprovalStatus,
        ApprovalVote,
        Delegation,
        NoticeKind,
    )
    from agentflow.approvals.rules import check_vote
    from agentflow.binding import ApprovalDecision, ApprovalStage
    from agentflow.exceptions import ApprovalError
    from agentflow.temporal.activities import AgentActivities
    from agentflow.temporal.contracts import (
        APPROVAL_WORKFLOW,
        ApprovalWorkflowInput,
        ApproverCheck,
        EditCheck,
        VoteCheck,
    )

SIGNED_VOTES = "signed-votes"
"""The patch that made the workflow verify each vote's signature: histories recorded before it
replay without the verification."""
NOTICE_IDS = "notice-ids"
"""The patch after which each notice's activity is named by its kind and its number among notices
of that kind (``notice-reminder-1``, ``notice-escalated-1``). Replay compares activity ids but not
timer durations: without the names, a change to the schedule (a second reminder before
escalation) replayed an escalated approval as a reminded one and routed its votes to the first
approver; with them, such a change fails replay unless it is behind a patch of its own (see
`ApprovalWorkflow._collect`). Histories recorded before it replay with the SDK's ids."""
LOCAL_DECISION = "local-decision"
"""The patch after which a vote's signature is checked, and the channel told of the decision, by
local activities in the workflow task that took the vote: the vote is counted, the update
answered and the approval closed in that one task, where each activity used to add a round trip
through the server and one more workflow task (three tasks a decision, now one). The conversation
waiting on the approval resumes that much sooner, and a burst of decisions costs the worker two
tasks less each. Histories recorded before it replay both as activities."""
NOTIFY_TIMEOUT = timedelta(seconds=30)
CHECK_TIMEOUT = timedelta(seconds=30)
CHECK_RETRY = RetryPolicy(
    maximum_attempts=3, non_retryable_error_types=("NotAuthorised", "EditRefused")
)

CheckT = TypeVar("CheckT")
CheckedT = TypeVar("CheckedT")


@workflow.defn(name=APPROVAL_WORKFLOW)
class ApprovalWorkflow:
    @workflow.init
    def __init__(self, input: ApprovalWorkflowInput) -> None:
        self._input = input
        self._request = input.request
        self._plan: tuple[ApprovalStage, ...] = input.request.plan()
        self._stage = 0
        self._level = 0
        self._reminders = 0
        self._approved: list[list[str]] = [[] for _ in self._plan]
        self._voters: set[str] = set()
        """Everyone who has voted, as authority or as delegate: nobody counts twice."""
        self._result: ApprovalResult | None = None
        self._nonces: set[str] = set()
        """The nonces of signed votes this approval has taken (counted or refused later)."""
        self._notices: dict[NoticeKind, int] = {}
        """How many notices of each kind this approval has sent, for their activity ids."""

    @property
    def _current_approvers(self) -> tuple[str, ...]:
        return self._plan[self._stage].eligible(self._level)

    @workflow.run
    async def run(self, input: ApprovalWorkflowInput) -> ApprovalResult:
        while True:
            stage = self._stage
            if not await self._collect(stage):
                break
            if self._result is not None:
                return await self._finish()
        self._result = ApprovalResult(
            decision=self._request.decide(
                "expired",
                reason="nobody decided in time",
                stage_approvals=self._stage_approvals(),
            ),
            decided_at=workflow.now(),
            escalation_level=self._level,
        )
        await self._notify("expired")
        return self._result

    async def _collect(self, stage: int) -> bool:
        """Ask the stage's approvers; ``False`` when it expired without a decision.

        The schedule (what is sent when, to whom) is part of every running approval's history.
        Change it behind a patch of its own, so that approvals started before the change keep
        theirs, e.g. a second reminder before escalation::

            if workflow.patched("second-reminder"):
                if await self._reminded(stage, timers.remind_after):
                    return True

        Unpatched, the change fails replay of any approval that passed the first reminder (the
        next notice's id, ``notice-escalated-1``, is recorded where the code now sends
        ``notice-reminder-2``) instead of misrouting it.
        """
        timers = self._input.timers
        await self._notify("requested")
        if await self._reminded(stage, timers.remind_after):
            return True
        if await self._moved_within(stage, timers.escalate_after):
            return True
        if self._level < len(self._plan[stage].escalate_to):
            self._level += 1
            await self._notify("escalated")
        return await self._moved_within(stage, timers.expire_after)

    # -- deciding ---------------------------------------------------------------------------

    # The update's handler and validator are one call each into plain methods, because
    # mutation testing (`make mutation`) only mutates undecorated functions.
    @workflow.update
    async def decide(self, vote: ApprovalVote) -> ApprovalResult:
        return await self._count_vote(vote)

    @decide.validator
    def _validate_vote(self, vote: ApprovalVote) -> None:
        self._check_vote(vote)

    async def _count_vote(self, vote: ApprovalVote) -> ApprovalResult:
        stage, count = self._stage, len(self._approved[self._stage])
        authority = vote.approver
        self._check_still_open(stage, count, authority)
        if workflow.patched(SIGNED_VOTES):
            await self._verified_signature(vote)
            self._check_still_open(stage, count, authority)
        if vote.delegation is not None:
            delegation = await self._verified_delegation(vote)
            authority = delegation.approver
            self._check_still_open(stage, count, authority)
        if not vote.approve:
            return self._end(vote, authority, outcome="denied")
        edited: ApprovalDecision | None = None
        if vote.edit is not None:
            edited = await self._checked_edit(vote, authority)
            self._check_still_open(stage, count, authority)
        self._voters |= {authority, vote.approver}
        self._approved[stage].append(authority)
        if len(self._approved[stage]) < self._plan[stage].required:
            return self._partial(vote, authority)
        if stage + 1 < len(self._plan):
            self._stage, self._level = stage + 1, 0
            return self._partial(vote, authority)
        return self._end(vote, authority, outcome="approved", edited=edited)

    def _check_vote(self, vote: ApprovalVote) -> None:
        if vote.signature is not None and vote.signature.nonce in self._nonces:
            raise ApprovalError("this vote was already sent once (a replay)")
        delegation = vote.delegation
        check_vote(
            self._request,
            voter=vote.approver,
            digest=vote.digest,
            approve=vote.approve,
            reason=vote.reason,
            edit=vote.edit,
            decided=self._result.decision.outcome if self._result is not None else None,
            voted=self._voters,
            current_approvers=self._current_approvers,
            on_behalf_of=delegation.approver if delegation is not None else None,
        )
        if delegation is not None:
            self._validate_delegation(vote, delegation)
        if vote.edit is not None:
            self._validate_edit()

    def _validate_delegation(self, vote: ApprovalVote, delegation: Delegation) -> None:
        """Refuse a delegation claim that is wrong on its face; the org chart decides the rest."""
        if delegation.delegate != vote.approver:
            raise ValueError(f"{vote.approver} is not the delegate named in the vote")
        if not delegation.starts <= workflow.now() < delegation.ends:
            raise ValueError(
                f"{vote.approver} is not {delegation.approver}'s delegate now (the leave is over "
                "or has not started)"
            )

    def _validate_edit(self) -> None:
        """What only this workflow knows about an edit: whether the vote completes the approval."""
        stage = self._plan[self._stage]
        last = self._stage + 1 == len(self._plan)
        if not last or len(self._approved[self._stage]) + 1 < stage.required:
            raise ValueError("only the vote that completes the approval can edit the request")
        if not self._input.agent:
            raise ValueError("this approval cannot check edits (it names no agent)")

    async def _verified_signature(self, vote: ApprovalVote) -> None:
        """A worker holding the desks' keys checks the vote's signature, or the update fails.

        The workflow holds no secret (its history is readable by whoever reads Temporal); the
        nonce is remembered so that the same signed vote is never counted twice.
        """
        check = VoteCheck(approval_id=workflow.info().workflow_id, vote=vote)
        await self._check(
            AgentActivities.verify_vote, check, local=workflow.patched(LOCAL_DECISION)
        )
        if vote.signature is not None:
            if vote.signature.nonce in self._nonces:
                raise ApplicationError("this vote was already sent once (a replay)")
            self._nonces.add(vote.signature.nonce)

    async def _verified_delegation(self, vote: ApprovalVote) -> Delegation:
        """The org chart's delegation for the voter now, or the update fails."""
        check = ApproverCheck(
            employee=vote.approver,
            approvers=self._current_approvers,
            requester=self._request.requester,
            at=workflow.now(),
        )
        delegation = await self._check(AgentActivities.check_approver, check)
        if not delegation.starts <= workflow.now() < delegation.ends:
            raise ApplicationError(
                f"{vote.approver} is not {delegation.approver}'s delegate now", type="NotAuthorised"
            )
        return delegation

    async def _checked_edit(self, vote: ApprovalVote, authority: str) -> ApprovalDecision:
        stages = self._stage_approvals()
        stages = (*stages[:-1], (*stages[-1], authority))
        approval = self._request.decide(
            "approved", approver=authority, reason=vote.reason, stage_approvals=stages
        )
        check = EditCheck(
            agent=self._input.agent,
            request=self._request,
            changes=vote.edit or {},
            approval=approval,
            conversation_id=self._input.conversation_id,
            messages=self._input.messages,
            latest_user_message=self._input.latest_user_message,
            transcript=self._input.transcript,
        )
        return await self._check(AgentActivities.check_edit, check)

    async def _check(
        self,
        activity: Callable[[AgentActivities, CheckT], Awaitable[CheckedT]],
        arg: CheckT,
        *,
        local: bool = False,
    ) -> CheckedT:
        """Run one of the vote's checks; its refusal fails the update (``VoteRefused``)."""
        try:
            if local:
                return await workflow.execute_local_activity_method(
                    activity,
                    arg,
                    start_to_close_timeout=CHECK_TIMEOUT,
                    retry_policy=CHECK_RETRY,
                )
            return await workflow.execute_activity_method(
                activity,
                arg,
                start_to_close_timeout=CHECK_TIMEOUT,
                retry_policy=CHECK_RETRY,
            )
        except ActivityError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            raise ApplicationError(message, type="VoteRefused", non_retryable=True) from None

    def _check_still_open(self, stage: int, count: int, authority: str) -> None:
        """After an activity, make sure no other vote changed what this one was checked for."""
        if self._result is not None:
            raise ApplicationError(f"this approval is already {self._result.decision.outcome}")
        if self._stage != stage or len(self._approved[stage]) != count:
            raise ApplicationError("another vote was counted meanwhile; decide again")
        if authority in self._voters or authority == self._request.requester:
            raise ApplicationError(f"{authority} may not vote on this request again")

    def _stage_approvals(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(people) for people in self._approved[: self._stage + 1])

    def _partial(self, vote: ApprovalVote, authority: str) -> ApprovalResult:
        """A vote counted while the approval still needs more: the result is not final."""
        return ApprovalResult(
            decision=self._request.decide(
                "approved",
                approver=authority,
                reason=vote.reason,
                stage_approvals=self._stage_approvals(),
            ),
            decided_at=workflow.now(),
            escalation_level=self._level,
            decided_by=vote.approver,
            complete=False,
        )

    def _end(
        self,
        vote: ApprovalVote,
        authority: str,
        *,
        outcome: str,
        edited: ApprovalDecision | None = None,
    ) -> ApprovalResult:
        # A delegate decides under the authority of the approver they stand in for: that
        # approver is who the runtime checks against the chain; the delegate is kept apart.
        decision = edited or self._request.decide(
            "approved" if outcome == "approved" else "denied",
            approver=authority,
            reason=vote.reason,
            stage_approvals=self._stage_approvals(),
        )
        self._result = ApprovalResult(
            decision=decision,
            decided_at=workflow.now(),
            escalation_level=self._level,
            decided_by=vote.approver,
        )
        return self._result

    # -- state ------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> ApprovalStatus:
        state = "pending" if self._result is None else self._result.decision.outcome
        return ApprovalStatus(
            request=self._request,
            state=state,
            current_approvers=self._current_approvers,
            reminders_sent=self._reminders,
            escalation_level=self._level,
            stage=self._stage,
            approved_by=self._stage_approvals(),
        )

    async def _reminded(self, stage: int, delay: timedelta) -> bool:
        """Wait ``delay`` for the stage to move, then remind; ``True`` if it moved first."""
        if await self._moved_within(stage, delay):
            return True
        self._reminders += 1
        await self._notify("reminder")
        return False

    async def _moved_within(self, stage: int, delay: timedelta) -> bool:
        """Wait until the approval is decided or ``stage`` is done; ``False`` on timeout."""
        try:
            await workflow.wait_condition(
                lambda: self._result is not None or self._stage != stage, timeout=delay
            )
        except TimeoutError:
            return False
        return True

    async def _finish(self) -> ApprovalResult:
        assert self._result is not None
        await self._notify("decided", local=workflow.patched(LOCAL_DECISION))
        return self._result

    async def _notify(self, kind: NoticeKind, *, local: bool = False) -> None:
        notice = ApprovalNotice(
            kind=kind,
            workflow_id=workflow.info().workflow_id,
            conversation_id=self._input.conversation_id,
            request=self._request,
            approvers=self._current_approvers,
            decision=None if self._result is None else self._result.decision,
            result=self._result,
        )
        activity_id: str | None = None
        if workflow.patched(NOTICE_IDS):
            self._notices[kind] = self._notices.get(kind, 0) + 1
            activity_id = f"notice-{kind}-{self._notices[kind]}"
        if local:
            await workflow.execute_local_activity_method(
                AgentActivities.notify_approval,
                notice,
                activity_id=activity_id,
                start_to_close_timeout=NOTIFY_TIMEOUT,
            )
            return
        await workflow.execute_activity_method(
            AgentActivities.notify_approval,
            notice,
            activity_id=activity_id,
            start_to_close_timeout=NOTIFY_TIMEOUT,
        )
