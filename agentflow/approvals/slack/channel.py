"""``SlackChannel``: an approval's life as Slack messages.

- requested: a Block Kit message with Approve / Deny to each current approver (and to whoever
  stands in for an approver on leave), as a direct message from the app. An approver is reached
  through the directory's Slack user id for them; an approver the directory does not know is
  reached when the request names them by Slack user id (``U…``) or by their Slack account's
  email address, so ``NeedsApproval(approvers=["bob@example.com"])`` needs no table;
- reminder, escalated: replies in each message's thread; an escalation also sends the request
  to the approver it escalates to;
- decided, expired: every request message is updated in place (``chat.update``) to show the
  outcome where the buttons were, so no stale button remains, and the requester is told.

The channel runs inside the ``notify_approval`` activity, which Temporal retries: each post is
remembered in `SlackPost` under (approval, kind, recipient),
so a retry finds it instead of posting twice. Slack errors that a retry cannot fix (a user
Slack does not know, a revoked token) are logged and skipped rather than raised, because an
activity failing forever would also hold up the decision it announces.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Mapping
from typing import TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session, col, select

from agentflow.approvals.links import timeline_url
from agentflow.approvals.orgchart import OrgChart
from agentflow.approvals.records import ApprovalNotice
from agentflow.approvals.slack.api import Posted, SlackApi, is_slack_user_id, slack_error
from agentflow.approvals.slack.blocks import closed_blocks, escape, person, request_blocks
from agentflow.approvals.summary import Summariser, Summary, default_summary, with_provenance
from agentflow.approvals.tables import Employee, SlackPost, now

T = TypeVar("T")
log = logging.getLogger("agentflow.approvals.slack")

PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "channel_not_found",
        "invalid_auth",
        "is_archived",
        "message_not_found",
        "not_authed",
        "not_in_channel",
        "token_revoked",
        "user_not_found",
        "cant_update_message",
    }
)


class SlackChannel:
    """Posts approval requests to approvers in Slack and keeps the messages up to date."""

    def __init__(
        self,
        client: AsyncWebClient,
        org: OrgChart,
        *,
        summarise: Summariser = default_summary,
        public_url: str | None = None,
    ) -> None:
        self.slack = SlackApi(client)
        self.org = org
        self.summarise = summarise
        self.public_url = public_url
        """The web app's public base URL: requests then link to the conversation's timeline."""

    async def notify(self, notice: ApprovalNotice) -> None:
        match notice.kind:
            case "requested":
                await self._request(notice, self._recipients(notice), note=None)
            case "reminder":
                await self._thread(
                    notice, "reminder", "Reminder: this request still waits for a decision."
                )
            case "escalated":
                await self._escalate(notice)
            case "decided" | "expired":
                await self._close(notice)
            case "voided":
                await self._thread(notice, "voided", f"Voided: {notice.reason}")

    # -- the steps -----------------------------------------------------------------------------

    def _recipients(self, notice: ApprovalNotice) -> list[str]:
        """The current approvers and their stand-ins on leave; never the requester."""
        at = now()
        recipients: list[str] = []
        for approver in notice.approvers:
            for who in (approver, *self.org.delegates_of(approver, at)):
                if who not in recipients and who != notice.request.requester:
                    recipients.append(who)
        return recipients

    async def _request(
        self, notice: ApprovalNotice, recipients: list[str], note: str | None
    ) -> None:
        people = self.org.employees([*recipients, notice.request.requester or ""])
        blocks = request_blocks(
            approval_id=notice.workflow_id,
            request=notice.request,
            summary=self._summary(notice),
            requester=self._person(people, notice.request.requester),
            note=note,
            timeline_url=(
                timeline_url(self.public_url, notice.conversation_id) if self.public_url else None
            ),
        )
        for recipient in recipients:
            if self._post(notice.workflow_id, "request", recipient) is not None:
                continue
            slack_user = await self._slack_user(recipient, people)
            if slack_user is None:
                log.warning("approver %s has no Slack user id: use the web inbox or CLI", recipient)
                continue
            text = f"Approval needed: {self._summary(notice).title}"
            posted = await self._call(self.slack.post_message(slack_user, text, blocks=blocks))
            if posted is not None:
                self._remember(notice.workflow_id, "request", recipient, posted)

    async def _thread(self, notice: ApprovalNotice, kind: str, text: str) -> None:
        for post in self._posts(notice.workflow_id, "request"):
            if self._post(notice.workflow_id, kind, post.recipient) is not None:
                continue
            posted = await self._call(
                self.slack.post_message(post.channel, text, thread_ts=post.ts)
            )
            if posted is not None:
                self._remember(notice.workflow_id, kind, post.recipient, posted)

    async def _escalate(self, notice: ApprovalNotice) -> None:
        people = self.org.employees(notice.approvers)
        names = ", ".join(self._person(people, a) for a in notice.approvers[1:])
        await self._thread(notice, "escalation", f"No decision yet: escalated to {names}.")
        earlier = self._person(people, notice.approvers[0])
        await self._request(
            notice,
            self._recipients(notice),
            note=f"Escalated to you: {earlier} has not decided in time.",
        )

    async def _close(self, notice: ApprovalNotice) -> None:
        request = notice.request
        outcome = self._outcome(notice)
        people = self.org.employees([request.requester or ""])
        blocks = closed_blocks(
            approval_id=notice.workflow_id,
            request=request,
            summary=self._summary(notice),
            requester=self._person(people, request.requester),
            outcome=outcome,
        )
        text = f"{self._summary(notice).title}: {outcome}"
        for post in self._posts(notice.workflow_id, "request"):
            # chat.update is idempotent: a retried notice simply writes the same message again.
            await self._call(self.slack.update_message(post.channel, post.ts, text, blocks=blocks))
        requester = people.get(request.requester or "")
        if requester is None or not requester.slack_user_id:
            return
        if self._post(notice.workflow_id, "outcome", requester.id) is None:
            told = await self._call(
                self.slack.post_message(
                    requester.slack_user_id,
                    f"Your request ({escape(self._summary(notice).title)}): {outcome}",
                )
            )
            if told is not None:
                self._remember(notice.workflow_id, "outcome", requester.id, told)

    def _outcome(self, notice: ApprovalNotice) -> str:
        result = notice.result
        if result is None or result.decision.outcome == "expired":
            return ":hourglass: *Expired*: nobody decided in time."
        decision = result.decision
        people = self.org.employees([decision.approver or "", result.decided_by or ""])
        who = self._person(people, result.decided_by or decision.approver)
        if result.decided_by and result.decided_by != decision.approver:
            who += f" (for {self._person(people, decision.approver)}, on leave)"
        if decision.outcome == "approved" and decision.arguments is not None:
            changed = ", ".join(
                f"{escape(name)} = {escape(json.dumps(value))}"
                for name, value in sorted(decision.arguments.items())
                if notice.request.arguments.get(name) != value
            )
            return (
                f":white_check_mark: *Approved with edits* by {who}: {changed} "
                f"(executed call digest `{decision.digest[:16]}`)."
            )
        if decision.outcome == "approved":
            return f":white_check_mark: *Approved* by {who}."
        return f":x: *Denied* by {who}: {escape(decision.reason)}"

    # -- helpers -------------------------------------------------------------------------------

    async def _slack_user(self, approver: str, people: Mapping[str, Employee]) -> str | None:
        """The Slack user to send ``approver``'s request to, or ``None`` when there is none."""
        employee = people.get(approver)
        if employee is not None:
            return employee.slack_user_id
        if is_slack_user_id(approver):
            return approver
        if "@" in approver:
            return await self._call(self.slack.user_by_email(approver))
        return None

    def _summary(self, notice: ApprovalNotice) -> Summary:
        return with_provenance(self.summarise(notice.request), notice.request)

    @staticmethod
    def _person(people: dict[str, Employee], employee_id: str | None) -> str:
        employee = people.get(employee_id or "")
        if employee is None:
            return f"*{escape(employee_id or 'someone')}*"
        return person(employee.name, employee.slack_user_id)

    @staticmethod
    async def _call(call: Awaitable[T]) -> T | None:
        """Await a Web API call; ``None`` when it failed in a way no retry can fix."""
        try:
            return await call
        except SlackApiError as exc:
            if slack_error(exc) in PERMANENT_ERRORS:
                log.error("Slack call failed for good (%s): skipped", slack_error(exc))
                return None
            raise

    def _post(self, approval_id: str, kind: str, recipient: str) -> SlackPost | None:
        with Session(self.org.engine) as session:
            query = select(SlackPost).where(
                SlackPost.approval_id == approval_id,
                SlackPost.kind == kind,
                SlackPost.recipient == recipient,
            )
            return session.exec(query).first()

    def _posts(self, approval_id: str, kind: str) -> list[SlackPost]:
        with Session(self.org.engine) as session:
            query = select(SlackPost).where(
                SlackPost.approval_id == approval_id, SlackPost.kind == kind
            )
            return list(session.exec(query.order_by(col(SlackPost.id))).all())

    def _remember(self, approval_id: str, kind: str, recipient: str, posted: Posted) -> None:
        with Session(self.org.engine) as session:
            session.add(
                SlackPost(
                    approval_id=approval_id,
                    kind=kind,
                    recipient=recipient,
                    channel=posted.channel,
                    ts=posted.ts,
                )
            )
            session.commit()
