"""``/chat``: the employee's web chat with a durable agent.

The page is a thin view of the conversation's ``AgentWorkflow``: every request reads the state
from the workflow (its transcript, its steps and its pending approvals), so a reload, a second
tab or a restarted web process shows the same conversation. The browser keeps nothing but the
conversation id in its URL.

Progress reaches the page by **server push**: ``GET /chat/{id}/events`` is a Server-Sent Events
stream of the same view that ``GET /chat/{id}/state`` returns, sent whenever it changes — a
reply, a tool finishing, an approver's decision while the employee has the page open. The
workflow answers queries and has no subscription, so the stream's task reads the view
itself, fast while the agent works and slower while a human decides, and sends only what
changed (with a comment line now and then, so proxies keep the connection). A stream lasts a
few minutes: the browser's ``EventSource`` then reconnects, and identity and ownership are
checked again on every connection. ``/state`` stays for a first paint and for clients without
``EventSource``.

While the agent works, the stream also sends the model's text as it is written, when the
``AgentClient`` has the workers' live text (see `agentflow.temporal.live`): an ``event: text``
whose data is ``{"call": ..., "text": ...}``, the call under way and its text so far. The page
shows it in a growing bubble until the view holds the message; without live text, or if reading
it fails, the page shows steps only, and the answer all the same.

Who is chatting is the job of the same `Identify` callable as the
inbox; only the employee who started a conversation may read it or write to it. Each form and
each message carries a form token bound to (employee, conversation); see
`agentflow.web.csrf`. Model and tool text is never put into HTML by the server: it travels
as JSON, and the page's script renders it with ``textContent``, so ``<script>`` in a message
shows as text. The workflow is reached only through [`AgentClient`][agentflow.temporal.AgentClient].
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from typing import Any, cast
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from temporalio.service import RPCError

from agentflow.approvals.rules import approval_id as approval_workflow_id
from agentflow.binding import ApprovalRequest
from agentflow.exceptions import InvalidInput, TemporalUnavailable, WorkflowPaused
from agentflow.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock
from agentflow.temporal.client import AgentClient
from agentflow.temporal.contracts import Step
from agentflow.web.csrf import FormTokens
from agentflow.web.identity import Identify, dev_identity
from agentflow.web.pages import render
from agentflow.web.timeline import timeline_path

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
"""Ids this page accepts in its URLs; anything else is refused before Temporal is asked."""
MAX_BODY_BYTES = 64 * 1024
"""A message form larger than this is refused unread (the agent's own limit is far lower)."""
ACCEPT_WAIT = 0.25
"""Seconds a POST waits to learn whether the workflow refused the message (see ``_submit``)."""
OWNER_CACHE_SIZE = 4096
STREAM_SECONDS = 300.0
"""How long one event stream lasts before the browser reconnects (and is authorised again)."""
PUSH_INTERVAL = {"busy": 0.3, "waiting": 1.0, "idle": 2.0}
"""Seconds between two reads of the view by an event stream, by what the conversation does."""
KEEPALIVE_SECONDS = 15.0
log = logging.getLogger(__name__)
LIVE_INTERVAL = 0.05
"""Seconds between two reads of the model's text while the agent works (with live text)."""


@dataclass(frozen=True, kw_only=True)
class Card:
    """One thing a tool returned, shown as a card (an offer, a booking, a trip)."""

    title: str
    fields: tuple[tuple[str, str], ...] = ()
    badge: str = ""
    """A short label in the corner, e.g. ``Option 2``."""
    notes: tuple[str, ...] = ()
    """Warnings worth the employee's attention, e.g. the policy rules an offer breaks."""


CardRenderer = Callable[[Any], Sequence[Card]]
"""Turns a tool's parsed JSON result into cards; the chat has one per tool name that needs it."""


class ChatError(Exception):
    """A request the chat refuses: ``status`` and a message the employee can read."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _View:
    """What ``GET /chat/{id}/state`` returns, built from the workflow's queries."""

    items: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    busy: bool = False
    waiting: list[str] = field(default_factory=list[str])
    activity: str = ""
    user_messages: int = 0


class Chat:
    """The chat pages and their JSON endpoints, on top of an `AgentClient`.

    ``agent`` is the registered agent new conversations talk to; ``cards`` maps a tool name to
    the function that shows its result as cards; ``secret`` signs the forms (give every web
    process the same one; by default each process draws its own).
    """

    def __init__(
        self,
        agents: AgentClient,
        agent: str,
        *,
        identify: Identify = dev_identity,
        secret: bytes | None = None,
        cards: Mapping[str, CardRenderer] | None = None,
        timeline: Callable[[str], str] = timeline_path,
    ) -> None:
        self.agents = agents
        self.agent = agent
        self.identify = identify
        self.tokens = FormTokens(secret)
        self.cards = dict(cards or {})
        self.timeline = timeline
        self._owners: OrderedDict[str, str] = OrderedDict()

    def routes(self) -> list[Route]:
        return [
            Route("/chat", self.home, methods=["GET"]),
            Route("/chat", self.start, methods=["POST"]),
            Route("/chat/static/{name}", _asset, methods=["GET"]),
            Route("/chat/{conversation_id}", self.page, methods=["GET"]),
            Route("/chat/{conversation_id}/state", self.state, methods=["GET"]),
            Route("/chat/{conversation_id}/events", self.events, methods=["GET"]),
            Route("/chat/{conversation_id}/messages", self.send, methods=["POST"]),
        ]

    # -- pages ------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        employee = self.identify(request)
        if employee is None:
            return _home(request, employee=None)
        return _home(
            request,
            employee=employee,
            action="/chat" + _as_query(request, employee),
            token=self.tokens.issue(_PURPOSE, employee, ""),
        )

    async def start(self, request: Request) -> Response:
        employee = self.identify(request)
        if employee is None:
            return _home(request, 401, problem="Who are you? Open the chat with your handle.")
        form = await request.form()
        if not self.tokens.valid(str(form.get("token", "")), _PURPOSE, employee, ""):
            return _home(request, 403, problem="This form is not valid for you; reload the chat.")
        try:
            conversation_id = await self.agents.start_conversation(self.agent, user=employee)
        except RPCError as exc:
            return _home(request, 503, problem=f"No conversation can be started now: {exc.message}")
        self._remember(conversation_id, employee)
        target = f"/chat/{quote(conversation_id, safe='')}" + _as_query(request, employee)
        return RedirectResponse(target, status_code=303)

    async def page(self, request: Request) -> Response:
        try:
            employee, conversation_id = await self._authorise(request)
        except ChatError as exc:
            return _home(request, exc.status, problem=str(exc))
        query = _as_query(request, employee)
        base = f"/chat/{quote(conversation_id, safe='')}"
        context = {
            "employee": employee,
            "agent": self.agent,
            "conversation_id": conversation_id,
            "state_url": base + "/state" + query,
            "events_url": base + "/events" + query,
            "send_url": base + "/messages" + query,
            "new_url": "/chat" + query,
            "token": self.tokens.issue(_PURPOSE, employee, conversation_id),
            "timeline_url": self.timeline(conversation_id),
            "script_url": "/chat/static/chat.js",
            "style_url": _STYLE_URL,
        }
        return render(request, "chat.html", context)

    # -- JSON endpoints ---------------------------------------------------------------------

    async def state(self, request: Request) -> Response:
        try:
            _, conversation_id = await self._authorise(request)
            view = await self._view(conversation_id)
        except ChatError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse(asdict(view), headers={"Cache-Control": "no-store"})

    async def events(self, request: Request) -> Response:
        """The conversation's view as Server-Sent Events, one ``data:`` each time it changes."""
        try:
            _, conversation_id = await self._authorise(request)
        except ChatError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return StreamingResponse(
            self._stream(conversation_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _stream(self, conversation_id: str) -> AsyncIterator[str]:
        # Starlette ends this generator when the browser goes away (it cancels the response).
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        quiet_since = loop.time()
        last = ""
        live = _LiveView(self.agents, conversation_id)
        yield "retry: 1000\n\n"
        while loop.time() < ends:
            pace = "idle"
            try:
                view = await self._view(conversation_id)
            except ChatError as exc:
                payload = json.dumps({"error": str(exc)})
                event = f"event: problem\ndata: {payload}\n\n"
            else:
                payload = json.dumps(asdict(view))
                event = f"data: {payload}\n\n"
                pace = "busy" if view.busy else "waiting" if view.waiting else "idle"
            if payload != last:
                last, quiet_since = payload, loop.time()
                yield event
            elif loop.time() - quiet_since > KEEPALIVE_SECONDS:
                quiet_since = loop.time()
                yield ": keep-alive\n\n"
            if pace != "busy" or not live.on:
                await asyncio.sleep(PUSH_INTERVAL[pace])
                continue
            # While the agent works, the model's words between two reads of the view.
            until = loop.time() + PUSH_INTERVAL[pace]
            while loop.time() < until:
                text = await live.changed()
                if text is not None:
                    quiet_since = loop.time()
                    yield f"event: text\ndata: {text}\n\n"
                await asyncio.sleep(LIVE_INTERVAL)

    async def send(self, request: Request) -> Response:
        try:
            employee, conversation_id = await self._authorise(request)
            length = request.headers.get("content-length", "")
            if not length.isdigit():
                raise ChatError(411, "the message must be sent with its length")
            if int(length) > MAX_BODY_BYTES:
                raise ChatError(413, "the message is too long")
            form = await request.form()
            if not self.tokens.valid(
                str(form.get("token", "")), _PURPOSE, employee, conversation_id
            ):
                raise ChatError(403, "this page is not valid for you any more; reload it")
            await self._submit(conversation_id, str(form.get("text", "")), employee)
        except ChatError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse({"accepted": True}, status_code=202)

    # -- talking to the workflow ------------------------------------------------------------

    async def _submit(self, conversation_id: str, text: str, employee: str) -> None:
        """Hand the message to the workflow; the page then follows the answer on its stream."""
        try:
            await self.agents.submit(conversation_id, text, sender=employee, wait=ACCEPT_WAIT)
        except InvalidInput as exc:
            raise ChatError(400, str(exc)) from exc
        except TemporalUnavailable as exc:
            raise ChatError(504, "no answer from the conversation; reload before retrying") from exc
        except WorkflowPaused as exc:
            raise ChatError(409, f"your message was not taken: {exc}") from exc
        except RPCError as exc:
            raise ChatError(409, f"the conversation cannot take messages: {exc.message}") from exc

    async def _view(self, conversation_id: str) -> _View:
        try:
            # Steps first: the transcript read after them holds everything they report (a reply
            # step never shows up without its message), so the view is never "done" too early.
            steps = await self.agents.steps(conversation_id)
            transcript = await self.agents.transcript(conversation_id)
            pending = {r.tool_call_id: r for r in transcript.pending_approvals}
            current: dict[str, tuple[str, ...]] = {}
            for call_id in pending:
                status = await self.agents.approval_status(
                    approval_workflow_id(conversation_id, call_id)
                )
                current[call_id] = status.current_approvers
        except WorkflowPaused as exc:
            raise ChatError(503, str(exc)) from exc
        except RPCError as exc:
            raise ChatError(503, f"the conversation cannot be read now: {exc.message}") from exc
        view = _View()
        decisions = _decisions(conversation_id, steps)
        replies = {s.turn: s for s in steps if s.kind == "reply"}
        results = {
            b.tool_use_id: b
            for m in transcript.messages
            for b in m.content
            if isinstance(b, ToolResultBlock)
        }
        running: list[str] = []
        turn = 0
        for message in transcript.messages:
            if message.role == "assistant":
                if _is_closing_note(message, replies.get(turn)):
                    continue  # the turn's error item says it, once
                running = self._assistant(view, message, results, pending, current, decisions)
                continue
            for block in message.content:
                if isinstance(block, TextBlock):
                    self._close_turn(view, replies.get(turn))
                    turn += 1
                    view.items.append({"kind": "user", "text": block.text})
                    running = []
        self._close_turn(view, replies.get(turn))
        view.user_messages = turn
        last_reply = replies.get(turn)
        finished = last_reply is not None or _answered(transcript.messages)
        for call_id, request in pending.items():
            view.waiting.extend(a for a in current.get(call_id, request.approvers))
        view.busy = turn > 0 and not finished and not (view.waiting and not running)
        if running:
            view.activity = "Running " + ", ".join(running) + "…"
        elif view.busy:
            view.activity = "Thinking…"
        elif view.waiting:
            view.activity = "Waiting for approval from " + ", ".join(view.waiting)
        return view

    def _assistant(
        self,
        view: _View,
        message: Message,
        results: Mapping[str, ToolResultBlock],
        pending: Mapping[str, ApprovalRequest],
        current: Mapping[str, tuple[str, ...]],
        decisions: Mapping[str, dict[str, Any]],
    ) -> list[str]:
        """Adds the message's text and tool calls to the view; returns the calls still running."""
        running: list[str] = []
        if message.text:
            view.items.append({"kind": "agent", "text": message.text})
        for call in message.tool_calls:
            result = results.get(call.id)
            request = pending.get(call.id)
            if request is not None:
                approvers = list(current.get(call.id, request.approvers))
                view.items.append(_tool_item(call, "awaiting_approval"))
                view.items.append(
                    {
                        "kind": "approval",
                        "status": "pending",
                        "approvers": approvers,
                        "reasons": list(request.reasons),
                    }
                )
                continue
            if call.id in decisions:
                view.items.append(decisions[call.id])
            if result is None:
                running.append(call.name)
                view.items.append(_tool_item(call, "running"))
            elif result.is_error:
                view.items.append(_tool_item(call, "failed") | {"error": result.content})
            else:
                view.items.append(_tool_item(call, "done"))
                cards = self._cards(call.name, result.content)
                if cards:
                    view.items.append({"kind": "cards", "tool": call.name, "cards": cards})
        return running

    def _cards(self, tool: str, content: str) -> list[dict[str, Any]]:
        render = self.cards.get(tool)
        if render is None:
            return []
        try:
            return [asdict(card) for card in render(json.loads(content))]
        except (ValueError, TypeError, KeyError, AttributeError):
            return []  # an unexpected shape is still in the agent's own words; no cards then

    @staticmethod
    def _close_turn(view: _View, reply: Step | None) -> None:
        """A turn that ended without an answer (model down, limits) says so in the chat."""
        status = reply.data.get("status") if reply is not None else None
        if reply is not None and status not in ("completed", "awaiting_approval"):
            view.items.append({"kind": "error", "status": status, "text": reply.summary})

    # -- who may see what -------------------------------------------------------------------

    async def _authorise(self, request: Request) -> tuple[str, str]:
        employee = self.identify(request)
        if employee is None:
            raise ChatError(401, "Who are you? Open the chat with your handle.")
        conversation_id = str(request.path_params["conversation_id"])
        if not CONVERSATION_ID.match(conversation_id):
            raise ChatError(404, "there is no such conversation")
        owner = await self._owner(conversation_id)
        if owner != employee:
            # Someone else's conversation is refused like a missing one: no probing for ids.
            raise ChatError(404, "there is no such conversation")
        return employee, conversation_id

    async def _owner(self, conversation_id: str) -> str | None:
        """Who started the conversation, from the workflow's own start event.

        Read from history rather than from the browser or a side table, so conversations
        started from the CLI or Slack are covered too; the answer never changes, so it is
        cached.
        """
        if conversation_id in self._owners:
            self._owners.move_to_end(conversation_id)
            return self._owners[conversation_id]
        try:
            owner = await self.agents.conversation_owner(conversation_id)
        except (RPCError, TemporalUnavailable) as exc:
            raise ChatError(503, f"the conversation cannot be read now: {exc}") from exc
        if owner is not None:  # a missing conversation may yet be started under that id
            self._remember(conversation_id, owner)
        return owner

    def _remember(self, conversation_id: str, owner: str) -> None:
        self._owners[conversation_id] = owner
        while len(self._owners) > OWNER_CACHE_SIZE:
            self._owners.popitem(last=False)


class _LiveView:
    """The text of the model call under way, as one event stream sends it: only when changed.

    Off without live text, or once reading it failed (the page shows steps then).
    """

    def __init__(self, agents: AgentClient, conversation_id: str) -> None:
        self.live = agents.live_text
        self.conversation_id = conversation_id
        self.last: tuple[str, str] | None = None

    @property
    def on(self) -> bool:
        return self.live is not None

    async def changed(self) -> str | None:
        """The call and its text as JSON, if either changed since the last time."""
        if self.live is None:
            return None
        try:
            current = await self.live.current(self.conversation_id)
        except Exception as exc:  # the text is a show: whatever breaks it, the view goes on
            log.warning("live text is off for %s: %s", self.conversation_id, exc)
            self.live = None
            return None
        if current is None or current == self.last:
            return None
        self.last = current
        call, text = current
        return json.dumps({"call": call, "text": text})


def _decisions(conversation_id: str, steps: Sequence[Step]) -> dict[str, dict[str, Any]]:
    """Decided approvals by tool call id, from the workflow's approval steps."""
    calls = {
        str(s.data.get("digest")): str(s.data.get("approval_id"))
        for s in steps
        if s.kind == "approval_requested"
    }
    prefix = approval_workflow_id(conversation_id, "")
    found: dict[str, dict[str, Any]] = {}
    for step in steps:
        approval_id = calls.get(str(step.data.get("digest")), "")
        if step.kind == "approval_decided" and approval_id.startswith(prefix):
            found[approval_id.removeprefix(prefix)] = {
                "kind": "approval",
                "status": step.data.get("outcome", step.summary),
                "approver": step.data.get("approver"),
                "reason": step.data.get("reason", ""),
            }
    return found


def _is_closing_note(message: Message, reply: Step | None) -> bool:
    """The note that closes a turn which ended without the model's answer (see the loop)."""
    if reply is None or reply.data.get("status") in ("completed", "awaiting_approval"):
        return False
    return not message.tool_calls and message.text == reply.summary


def _answered(messages: Sequence[Message]) -> bool:
    """The last message is the agent's answer (no tool call left to run)."""
    return bool(messages) and messages[-1].role == "assistant" and not messages[-1].tool_calls


def _tool_item(call: ToolUseBlock, status: str) -> dict[str, Any]:
    arguments: object = call.input
    summary = ""
    if isinstance(arguments, dict):
        pairs = cast(dict[str, Any], arguments).items()
        summary = ", ".join(f"{key}={value}" for key, value in pairs)
    return {"kind": "tool", "tool": call.name, "status": status, "arguments": summary}


def _as_query(request: Request, employee: str) -> str:
    """Carries ``?as=`` on to the next URL when that is how the employee was identified."""
    return "?" + urlencode({"as": employee}) if "as" in request.query_params else ""


_PURPOSE = "chat"
"""What the chat's form tokens are for (see `agentflow.web.csrf`)."""
_STYLE_URL = "/chat/static/chat.css"
_PACKAGE = files("agentflow.web")
# The page's two assets, read once from the package. A fixed table rather than Starlette's
# StaticFiles: no path from the URL ever reaches the file system, and the routes stay plain
# ``Route`` objects that mount anywhere in the app.
_ASSETS = {
    name: (_PACKAGE.joinpath("static", name).read_bytes(), media_type)
    for name, media_type in (
        ("chat.js", "text/javascript; charset=utf-8"),
        ("chat.css", "text/css; charset=utf-8"),
    )
}


async def _asset(request: Request) -> Response:
    asset = _ASSETS.get(str(request.path_params["name"]))
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain")
    content, media_type = asset
    return Response(content, media_type=media_type, headers={"Cache-Control": "no-cache"})


def _home(
    request: Request,
    status: int = 200,
    *,
    employee: str | None = None,
    action: str = "",
    token: str = "",
    problem: str | None = None,
) -> Response:
    """``chat_home.html``: start a conversation, a ``problem`` instead, or ask who it is."""
    context = {
        "employee": employee,
        "action": action,
        "token": token,
        "problem": problem,
        "style_url": _STYLE_URL,
    }
    return render(request, "chat_home.html", context, status)
