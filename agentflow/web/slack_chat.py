"""Employees chat with an agent in a Slack direct message, and see their Home tab.

Transport-free, as `agentflow.approvals.slack.interactions` is: the Events API endpoint
(HTTP, signature checked first; `agentflow.web.slack.SlackEventsEndpoint`) and the
Socket Mode listener both hand `SlackChat.handle` the decoded event callback.

- ``message`` in the app's DM: the Slack user is mapped to an employee through the directory
  ([`Directory`][agentflow.approvals.Directory]; an org chart's ``Employee.slack_user_id``),
  never through anything the user typed. Their conversation is
  the same durable ``AgentWorkflow`` as on the web and in the terminal, one per Slack user
  (``slack-{team}-{user}``), owned by that employee, and every message, the first included,
  goes to it in one call (`AgentClient.start_or_send`): two first messages at once land in the
  one conversation that starts. A Slack account mapped to someone else later is refused like a
  stranger: the workflow checks the sender on every message.
  The reply is posted back in the DM; a turn that waits for an approval says who decides,
  and its final answer (booked, or the alternatives after a denial) follows in the DM once
  the approver has decided — the approval channel itself tells the requester the outcome.
- ``app_home_opened``: the Home tab lists the employee's pending requests, the approvals
  waiting for their decision, and whatever the application adds (``home``: the travel app's
  trips).

Slack wants an answer within 3 seconds and re-sends an event it did not get one for: each
event is handled in a background task, and an event id already seen is dropped. Refusals
(someone not in the directory, someone else's conversation) leave a record in the audit trail
when a tracer provider is given.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.service import RPCError

from agentflow.approvals.desk import ApprovalDesk
from agentflow.approvals.directory import Directory
from agentflow.approvals.slack.api import Block, SlackApi, payload_field, slack_error
from agentflow.approvals.slack.blocks import escape
from agentflow.audit.recorder import SpanRecorder, recorder_for
from agentflow.exceptions import AgentflowError, NotParticipant
from agentflow.temporal.client import AgentClient
from agentflow.temporal.contracts import AgentReply

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = logging.getLogger("agentflow.web.slack_chat")

HomeSection = Callable[[str], Sequence[Block] | Awaitable[Sequence[Block]]]
"""The application's part of an employee's Home tab: Block Kit blocks for an employee id."""
SEEN_EVENTS = 2048
"""Event ids remembered to drop Slack's re-deliveries."""
MAX_TEXT = 3900
"""Characters of a reply in one Slack message (Slack truncates ``text`` near 4,000)."""


class SlackChat:
    """The agent ``agent`` (registered on the worker behind ``agents``) as a Slack DM chat."""

    def __init__(
        self,
        agents: AgentClient,
        agent: str,
        directory: Directory,
        client: AsyncWebClient,
        *,
        desk: ApprovalDesk | None = None,
        home: HomeSection | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.agents = agents
        self.agent = agent
        self.directory = directory
        """Who a Slack user is (an [`OrgChart`][agentflow.approvals.OrgChart] is one)."""
        self.slack = SlackApi(client)
        self.desk = desk
        """Lists the approvals waiting for the employee's decision on their Home tab."""
        self.home = home
        self.recorder: SpanRecorder | None = (
            None if tracer_provider is None else recorder_for(tracer_provider)
        )
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """Handle one Events API body; the return value is the HTTP response body."""
        kind = payload_field(payload, "type")
        if kind == "url_verification":
            challenge = payload_field(payload, "challenge")
            return {"challenge": challenge} if isinstance(challenge, str) else None
        if kind != "event_callback":
            return None
        event_id = payload_field(payload, "event_id")
        if isinstance(event_id, str):
            if event_id in self._seen:
                return None  # Slack delivered it again: it is being handled already
            self._seen[event_id] = None
            while len(self._seen) > SEEN_EVENTS:
                self._seen.popitem(last=False)
        event = payload_field(payload, "event")
        team = str(payload_field(payload, "team_id") or "T")
        match payload_field(event, "type"):
            case "message" if self._from_a_person(event):
                self._spawn(self._message(team, event))
            case "app_home_opened" if payload_field(event, "tab") in ("home", None):
                self._spawn(self._home(team, str(payload_field(event, "user") or "")))
            case _:
                pass
        return None

    async def drain(self) -> None:
        """Wait for the events still being handled (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop following turns that wait for a human (shutdown).

        Their answers stay in the conversation, and the approval channel still tells the
        employee the outcome.
        """
        for task in list(self._tasks):
            task.cancel()
        await self.drain()

    @staticmethod
    def _from_a_person(event: Any) -> bool:
        """A DM a person typed: not the app's own posts, not edits or other subtypes."""
        return (
            payload_field(event, "channel_type") == "im"
            and not payload_field(event, "bot_id")
            and not payload_field(event, "subtype")
            and isinstance(payload_field(event, "user"), str)
            and isinstance(payload_field(event, "text"), str)
        )

    # -- the DM --------------------------------------------------------------------------------

    def conversation_id(self, team: str, user: str) -> str:
        """The Slack user's conversation: one per user and workspace, the same after restarts."""
        return f"slack-{team}-{user}"

    async def _message(self, team: str, event: Any) -> None:
        user = str(payload_field(event, "user"))
        channel = str(payload_field(event, "channel") or user)
        text = str(payload_field(event, "text"))
        employee = self.directory.by_slack_user(user)
        if employee is None:
            self._refused(f"Slack user {user} is not in the directory: message refused")
            await self._post(channel, "You are not in the company directory: I cannot help you.")
            return
        conversation = self.conversation_id(team, user)
        try:
            # One call, whether the conversation exists or not: two first messages at once
            # land in the one conversation that starts (update-with-start).
            reply = await self.agents.start_or_send(
                conversation, text, agent=self.agent, user=employee.id
            )
            await self._post(channel, reply.output)
            if reply.status == "awaiting_approval":
                final = await self.agents.wait_for_turn(conversation, reply.turn)
                await self._post(channel, self._after_approval(final))
        except NotParticipant:
            self._refused(
                f"Slack user {user} ({employee.id}) wrote to {await self._owner(conversation)}'s "
                f"conversation {conversation}: refused"
            )
            await self._post(channel, "This conversation belongs to someone else.")
        except AgentflowError as exc:  # refused input (too long, empty), Temporal unreachable
            await self._post(channel, f"Not sent: {exc}")
        except RPCError as exc:
            await self._post(channel, f"The conversation cannot take messages now: {exc.message}")

    async def _owner(self, conversation: str) -> str:
        """Whose conversation a refused message was sent to, for the audit record."""
        try:
            return await self.agents.conversation_owner(conversation) or "nobody"
        except (RPCError, AgentflowError):
            return "someone else"

    @staticmethod
    def _after_approval(reply: AgentReply) -> str:
        return reply.output or "Your request was decided."

    async def _post(self, channel: str, text: str) -> None:
        body = escape(text)
        if len(body) > MAX_TEXT:
            body = body[: MAX_TEXT - 1] + "…"
        try:
            await self.slack.post_message(channel, body)
        except SlackApiError as exc:
            log.warning("could not post to %s: %s", channel, slack_error(exc))

    # -- the Home tab --------------------------------------------------------------------------

    async def _home(self, team: str, user: str) -> None:
        employee = self.directory.by_slack_user(user) if user else None
        if employee is None:
            self._refused(f"Slack user {user} is not in the directory: Home tab not shown")
            blocks = [_section("You are not in the company directory.")]
        else:
            blocks = await self.home_blocks(employee.id, self.conversation_id(team, user))
        try:
            await self.slack.publish_home(user, blocks)
        except SlackApiError as exc:
            log.warning("could not publish the Home tab of %s: %s", user, slack_error(exc))

    async def home_blocks(self, employee: str, conversation: str) -> list[Block]:
        """The Home tab of ``employee``: the application's section, then pending approvals."""
        blocks: list[Block] = []
        if self.home is not None:
            section = self.home(employee)
            if inspect.isawaitable(section):
                section = await section
            blocks.extend(section)
        mine = await self._my_requests(conversation)
        blocks.append(_header("Your requests waiting for a decision"))
        blocks.extend(_section(line) for line in mine or ["None."])
        if self.desk is not None:
            theirs = await self.desk.pending(employee)
            blocks.append(_header("Waiting for your decision"))
            lines = [
                f"{p.status.request.requester or '?'}: {p.status.request.tool} — "
                + "; ".join(p.status.request.reasons)
                for p in theirs
            ]
            blocks.extend(_section(line) for line in lines or ["None."])
        return blocks

    async def _my_requests(self, conversation: str) -> list[str]:
        try:
            pending = await self.agents.pending_approvals(conversation)
        except (RPCError, AgentflowError):
            return []  # no conversation yet: nothing pending
        return [
            f"{status.request.tool}: waiting for {' or '.join(status.current_approvers)} — "
            + "; ".join(status.request.reasons)
            for _, status in pending
        ]

    # -- plumbing ------------------------------------------------------------------------------

    def _refused(self, reason: str) -> None:
        log.warning("%s", reason)
        if self.recorder is not None:
            self.recorder.slack_request_rejected(reason=reason, timestamp=None, client_address=None)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Slack chat event failed", exc_info=task.exception())


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)[:3000]}}
