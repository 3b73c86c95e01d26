"""The one path from a human's click or command to the approval workflow.

Slack, the web inbox and the CLI all name a person and an approval; the desk turns that into a
vote the workflow will accept, or refuses with a reason and changes nothing:

1. the approval must exist and still be pending, and the digest the person was shown must be the
   digest of the request (a stale or forged button cannot approve another call);
2. the person must be a current approver of that request (of the stage now collecting votes),
   or the delegate of one who is on leave right now, never the requester, and must not have
   voted on it already. The request names its approvers (``NeedsApproval(approvers=[...])``,
   or a chain from the org chart): whoever it names may decide, whether or not any directory
   knows them, and nobody else (see `agentflow.approvals.directory`);
3. an edit may change only the arguments the request lets the approver change; the workflow has
   the edited call validated and checked by the tool's preconditions before it counts the vote.

The workflow checks the same rules again against its own state, and asks the org chart itself
who stands in for whom (a vote's delegation is a claim, never trusted): the desk is the friendly
refusal, the workflow is the guarantee.

The desk writes nothing to the approval ledger: the worker records the decision when the
approval workflow tells its channel ([`LedgerChannel`][agentflow.approvals.LedgerChannel]), so
there is one writer, whichever desk, channel or client the vote came through.
[`AgentClient.approval_outcome`][agentflow.temporal.AgentClient.approval_outcome] waits for that.

Every refusal leaves an audit record (when the desk's client records to the audit trail): who
tried, through which channel, on which approval and digest, and why it was refused, in the
trace of the approval's conversation.
"""

from __future__ import annotations

from agentflow.extras import require

require("temporal", "agentflow.approvals.desk")  # a missing extra is one line naming it

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import context as otel_context
from temporalio.service import RPCError, RPCStatusCode

from agentflow.approvals.directory import Directory
from agentflow.approvals.records import ApprovalResult, ApprovalStatus, ApprovalVote, Delegation
from agentflow.approvals.rules import check_vote, conversation_of
from agentflow.approvals.tables import now
from agentflow.exceptions import ApprovalError, WorkflowPaused
from agentflow.temporal.client import AgentClient
from agentflow.temporal.health import RESUMES, stuck_workflow
from agentflow.temporal.tracing import AuditInterceptor, audit_interceptor

STATUS_TIMEOUT = 5.0
"""Seconds to wait for one approval's state while listing (no worker: it is skipped)."""

Clock = Callable[[], datetime]
"""Returns the current time (aware UTC); injected so tests can stand anywhere in a leave."""


@dataclass(frozen=True, kw_only=True)
class PendingApproval:
    """A pending approval as one person sees it: what they may decide, and in whose name."""

    approval_id: str
    status: ApprovalStatus
    delegation: Delegation | None = None
    """Set when the person would decide as the delegate of an approver on leave."""


class ApprovalDesk:
    """Checks decisions against the rulebook and hands them to the approval workflow.

    ``org`` is the [`Directory`][agentflow.approvals.Directory] that says who stands in
    for an approver on leave (an [`OrgChart`][agentflow.approvals.OrgChart], or
    [`NoDirectory`][agentflow.approvals.NoDirectory] when requests alone name approvers).
    """

    def __init__(
        self,
        agents: AgentClient,
        org: Directory,
        *,
        clock: Clock = now,
    ) -> None:
        self.agents = agents
        self.org = org
        self.clock = clock
        self._audit = audit_interceptor(agents.client)
        """Records refusals, in the conversation's trace; ``None`` without a tracer provider."""

    async def status(self, approval_id: str) -> ApprovalStatus:
        """The approval's state, or `ApprovalError` when there is no such approval."""
        try:
            return await self.agents.approval_status(approval_id)
        except WorkflowPaused as exc:
            raise ApprovalError(str(exc)) from exc
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ApprovalError(f"there is no approval {approval_id!r}") from exc
            raise ApprovalError(f"approval {approval_id!r} cannot be read: {exc.message}") from exc

    async def pending(self, employee_id: str | None = None) -> list[PendingApproval]:
        """Pending approvals, all of them or only those ``employee_id`` may decide now."""
        found: list[PendingApproval] = []
        for approval_id, status in await self._pending():
            if employee_id is None:
                found.append(PendingApproval(approval_id=approval_id, status=status))
                continue
            try:
                delegation = self.authority(employee_id, status)
            except ApprovalError:
                continue
            found.append(
                PendingApproval(approval_id=approval_id, status=status, delegation=delegation)
            )
        return found

    async def _pending(self) -> list[tuple[str, ApprovalStatus]]:
        # Temporal's visibility store lists the candidates (it may lag a moment); each one is
        # then asked for its state. One approval whose worker is gone must not hide the others.
        query = (
            'WorkflowType = "ApprovalWorkflow" AND ExecutionStatus = "Running" '
            f'AND TaskQueue = "{self.agents.task_queue}"'
        )
        found: list[tuple[str, ApprovalStatus]] = []
        async for execution in self.agents.client.list_workflows(query):
            try:
                status = await asyncio.wait_for(self.status(execution.id), STATUS_TIMEOUT)
            except (ApprovalError, TimeoutError):
                continue
            if status.state == "pending":
                found.append((execution.id, status))
        return found

    def authority(self, employee_id: str, status: ApprovalStatus) -> Delegation | None:
        """Why ``employee_id`` may decide this approval now, or `ApprovalError`.

        ``None`` when they are a current approver themselves, a
        [`Delegation`][agentflow.approvals.Delegation] when they stand in for one who is on leave.
        """
        return self._authorised(employee_id, status, approve=True, digest=status.request.digest)

    def _authorised(
        self,
        employee_id: str,
        status: ApprovalStatus,
        *,
        approve: bool,
        digest: str,
        reason: str = "",
        edit: Mapping[str, Any] | None = None,
    ) -> Delegation | None:
        """The rulebook's verdict on this vote, with the directory's word on delegation."""
        request = status.request
        delegation = None
        if status.current_approvers and employee_id not in status.current_approvers:
            delegation = self.org.delegation(employee_id, status.current_approvers, self.clock())
            if delegation is not None and delegation.approver == request.requester:
                delegation = None  # nobody stands in for the requester
        check_vote(
            request,
            voter=employee_id,
            digest=digest,
            approve=approve,
            reason=reason,
            edit=edit,
            decided=None if status.state == "pending" else status.state,
            voted={person for people in status.approved_by for person in people},
            current_approvers=status.current_approvers,
            on_behalf_of=delegation.approver if delegation is not None else None,
        )
        return delegation

    async def decide(
        self,
        approval_id: str,
        employee_id: str,
        *,
        approve: bool,
        digest: str,
        reason: str = "",
        edit: Mapping[str, Any] | None = None,
        channel: str | None = None,
        channel_user: str | None = None,
    ) -> ApprovalResult:
        """Approve or deny as ``employee_id`` the request whose digest ``digest`` they saw.

        ``edit`` approves the request with these arguments changed (a new call, checked by the
        workflow against the tool's arguments model and preconditions). The result is
        ``complete=False`` while a stage or a later stage still needs votes. ``channel``
        (``slack``, ``web``, ``cli``) and ``channel_user`` (the person's id there, such as a
        Slack user id) name where the decision came from in the audit trail.

        The worker records a complete decision in the ledger after this returns:
        [`AgentClient.approval_outcome`][agentflow.temporal.AgentClient.approval_outcome] waits
        until it has.

        Raises [`ApprovalError`][agentflow.ApprovalError] and changes nothing when any rule in the
        module docstring is broken, or when the workflow refuses the vote. A refusal by the desk is
        recorded (see [`record_refusal`][agentflow.approvals.ApprovalDesk.record_refusal]); one by
        the workflow is recorded with the vote it refused.
        """
        try:
            delegation = await self._check(
                approval_id, employee_id, approve=approve, digest=digest, reason=reason, edit=edit
            )
        except ApprovalError as exc:
            await self.record_refusal(
                approval_id,
                employee_id,
                approve=approve,
                digest=digest,
                reason=str(exc),
                channel=channel,
                channel_user=channel_user,
            )
            raise
        vote = ApprovalVote(
            digest=digest,
            approver=employee_id,
            approve=approve,
            reason=reason.strip(),
            delegation=delegation,
            edit=None if edit is None else dict(edit),
        )
        try:
            return await self.agents.decide(approval_id, vote)
        except WorkflowPaused as exc:
            raise ApprovalError(str(exc)) from exc

    async def paused_conversation(self, approval_id: str) -> str | None:
        """Why the approval's conversation cannot act on a decision now, or ``None``.

        A decision is recorded by the approval, but the call runs in the conversation: when a
        deploy left the conversation's task failing, the approver is told that the call waits
        (and nothing is lost) rather than believing it ran.
        """
        conversation_id = conversation_of(approval_id)
        try:
            stuck = await asyncio.wait_for(
                stuck_workflow(self.agents.client, conversation_id), STATUS_TIMEOUT
            )
        except (RPCError, TimeoutError):
            return None
        if stuck is None:
            return None
        return (
            f"the conversation {conversation_id} is paused by an upgrade, so the decision "
            f"waits there: nothing is lost, and {RESUMES}"
        )

    async def _check(
        self,
        approval_id: str,
        employee_id: str,
        *,
        approve: bool,
        digest: str,
        reason: str,
        edit: Mapping[str, Any] | None,
    ) -> Delegation | None:
        """The authority to decide the approval, or `ApprovalError` saying why not."""
        status = await self.status(approval_id)
        return self._authorised(
            employee_id, status, approve=approve, digest=digest, reason=reason, edit=edit
        )

    async def record_refusal(
        self,
        approval_id: str,
        employee_id: str | None,
        *,
        approve: bool,
        digest: str,
        reason: str,
        channel: str | None = None,
        channel_user: str | None = None,
    ) -> None:
        """Leave an audit record of a decision refused before it reached the workflow.

        [`decide`][agentflow.approvals.ApprovalDesk.decide] calls it for its own refusals; a channel
        calls it for those it makes itself (a Slack user who is nobody the request names:
        ``employee_id`` is then ``None``). The record joins the trace of the approval's conversation
        when that can be found, and nothing is recorded when the desk's client has no tracer
        provider.
        """
        audit = self._audit
        if audit is None:
            return
        context = await self._trace_context(audit, approval_id)
        audit.recorder.vote_refused(
            approval_id=approval_id,
            conversation_id=conversation_of(approval_id),
            person=employee_id,
            approve=approve,
            digest=digest,
            reason=reason,
            channel=channel,
            channel_user=channel_user,
            context=context,
        )

    async def _trace_context(
        self, audit: AuditInterceptor, approval_id: str
    ) -> otel_context.Context | None:
        # The approval workflow's trace is its conversation's; an approval that does not exist
        # may still name a conversation that does. A failed lookup costs the record its place
        # in the trace, never the refusal itself.
        candidates = dict.fromkeys((approval_id, conversation_of(approval_id)))
        for workflow_id in candidates:
            try:
                context = await asyncio.wait_for(
                    audit.trace_context(self.agents.client, workflow_id), STATUS_TIMEOUT
                )
            except (RPCError, TimeoutError):
                continue
            if context is not None:
                return context
        return None
