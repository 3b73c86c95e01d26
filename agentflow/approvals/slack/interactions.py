"""What a verified Slack interaction does: Approve, Deny (a modal for the reason), its submit.

Transport-free: the web endpoint (HTTP, signature checked first) and the Socket Mode adapter
both hand `SlackInteractions.handle` the decoded payload and send back what it returns.

Slack wants an answer within 3 seconds, and a Temporal update waits for a worker. So a decision
is started as a background task and the handler returns at once; if the desk or the workflow
refuses it, the person who clicked is told in an ephemeral message and nothing changes. When it
is accepted, the worker's `SlackChannel` rewrites the
message and tells the requester: the one place that announces outcomes, whichever channel the
decision came from.

Who clicked is Slack's ``user.id`` of the verified payload, mapped to an employee through the
org chart; nothing in the payload that the user could have typed names an approver. Every
refused click (a stranger's included) leaves an audit record naming that Slack user.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, cast

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agentflow.approvals.desk import ApprovalDesk
from agentflow.approvals.slack.api import SlackApi, payload_field, slack_error
from agentflow.approvals.slack.blocks import (
    APPROVE_ACTION,
    DENY_ACTION,
    DENY_CALLBACK,
    REASON_BLOCK,
    REASON_INPUT,
    deny_modal,
    parse_button_value,
)
from agentflow.exceptions import ApprovalError

log = logging.getLogger("agentflow.approvals.slack")

Payload = Mapping[str, Any]

CHANNEL = "slack"
"""How decisions from here are named in the audit trail."""


class SlackInteractions:
    """Turns Slack's ``block_actions`` and ``view_submission`` payloads into decisions."""

    def __init__(self, desk: ApprovalDesk, client: AsyncWebClient) -> None:
        self.desk = desk
        self.slack = SlackApi(client)
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, payload: Payload) -> dict[str, Any] | None:
        """Handle one payload; the return value is the HTTP response body (``None``: empty)."""
        match payload_field(payload, "type"):
            case "block_actions":
                await self._action(payload)
            case "view_submission" if (
                payload_field(payload, "view", "callback_id") == DENY_CALLBACK
            ):
                return self._deny_submitted(payload)
            case _:
                pass
        return None

    async def drain(self) -> None:
        """Wait for the decisions still being handed to workflows (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the interactions ----------------------------------------------------------------------

    async def _action(self, payload: Payload) -> None:
        actions = payload_field(payload, "actions")
        if not isinstance(actions, list) or not actions:
            return
        action: Any = cast(list[Any], actions)[0]
        action_id = payload_field(action, "action_id")
        parsed = parse_button_value(str(payload_field(action, "value") or ""))
        user = str(payload_field(payload, "user", "id") or "")
        channel = payload_field(payload, "channel", "id") or payload_field(
            payload, "container", "channel_id"
        )
        channel = channel if isinstance(channel, str) else None
        if action_id not in (APPROVE_ACTION, DENY_ACTION) or parsed is None or not user:
            return
        approval_id, digest = parsed
        if action_id == APPROVE_ACTION:
            self._spawn(self._approve(approval_id, digest, user, channel))
            return
        # Who may deny is known before the form opens (within the 3 seconds of the trigger).
        if await self._who(user, approval_id) is None:
            self._spawn(self._stranger(approval_id, digest, user, channel, approve=False))
            return
        trigger = payload_field(payload, "trigger_id")
        if not isinstance(trigger, str):
            return
        # The trigger id expires 3 seconds after the click: open the modal now, not later.
        try:
            await self.slack.open_view(
                trigger, deny_modal(approval_id=approval_id, digest=digest, channel=channel)
            )
        except SlackApiError as exc:
            log.warning("could not open the deny form for %s: %s", user, slack_error(exc))
            self._spawn(self._tell(user, channel, "Could not open the form; please try again."))

    def _deny_submitted(self, payload: Payload) -> dict[str, Any] | None:
        metadata = str(payload_field(payload, "view", "private_metadata") or "")
        parsed = parse_button_value(metadata)
        user = str(payload_field(payload, "user", "id") or "")
        if parsed is None or not user:
            return None
        approval_id, digest = parsed
        values = payload_field(payload, "view", "state", "values")
        reason = payload_field(values, REASON_BLOCK, REASON_INPUT, "value")
        reason = reason.strip() if isinstance(reason, str) else ""
        if not reason:
            # Keeps the modal open with the error under the field: Slack's own validation UI.
            return {"response_action": "errors", "errors": {REASON_BLOCK: "Say why you deny it."}}
        channel = payload_field(json.loads(metadata), "channel")
        channel = channel if isinstance(channel, str) else None
        self._spawn(self._deny(approval_id, digest, user, channel, reason))
        return None

    async def _approve(self, approval_id: str, digest: str, user: str, channel: str | None) -> None:
        employee = await self._who(user, approval_id)
        if employee is None:
            await self._stranger(approval_id, digest, user, channel, approve=True)
            return
        await self._decide(approval_id, digest, employee, user, channel, None)

    async def _deny(
        self, approval_id: str, digest: str, user: str, channel: str | None, reason: str
    ) -> None:
        employee = await self._who(user, approval_id)
        if employee is None:
            await self._stranger(approval_id, digest, user, channel, approve=False)
            return
        await self._decide(approval_id, digest, employee, user, channel, reason)

    async def _who(self, user: str, approval_id: str) -> str | None:
        """The person a Slack user decides as: the directory's, else the one the request names.

        A request may name its approver by Slack user id or by the email address of their Slack
        account (``NeedsApproval(approvers=["bob@example.com"])``): the clicker is that approver
        when their id or their account's address is among the approvers deciding now.
        """
        known = self.desk.org.by_slack_user(user)
        if known is not None:
            return known.id
        try:
            status = await self.desk.status(approval_id)
        except ApprovalError:
            return None
        if user in status.current_approvers:
            return user
        addresses = {a.lower(): a for a in status.current_approvers if "@" in a}
        if not addresses:
            return None
        try:
            email = await self.slack.email_of(user)
        except SlackApiError as exc:
            log.warning("could not read the email address of %s: %s", user, slack_error(exc))
            return None
        return addresses.get(email.lower()) if email else None

    async def _decide(
        self,
        approval_id: str,
        digest: str,
        employee: str,
        user: str,
        channel: str | None,
        reason: str | None,
    ) -> None:
        try:
            await self.desk.decide(
                approval_id,
                employee,
                approve=reason is None,
                digest=digest,
                reason=reason or "",
                channel=CHANNEL,
                channel_user=user,
            )
        except ApprovalError as exc:
            await self._tell(user, channel, f"Your decision was not recorded: {exc}")

    async def _stranger(
        self, approval_id: str, digest: str, user: str, channel: str | None, *, approve: bool
    ) -> None:
        """A Slack user who is nobody the request names tried to decide: record it, tell them."""
        await self.desk.record_refusal(
            approval_id,
            None,
            approve=approve,
            digest=digest,
            reason="the Slack user is not an approver of this request",
            channel=CHANNEL,
            channel_user=user,
        )
        await self._tell(user, channel, "You are not an approver of this request: nothing changed.")

    async def _tell(self, user: str, channel: str | None, text: str) -> None:
        try:
            if channel:
                await self.slack.post_ephemeral(channel, user, text)
            else:
                await self.slack.post_message(user, text)
        except SlackApiError as exc:
            log.warning("could not tell %s %r: %s", user, text, slack_error(exc))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Slack decision failed", exc_info=task.exception())
