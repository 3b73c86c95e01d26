"""The web app: the Slack interactivity endpoint and the local approval inbox.

One Starlette application, built from objects the caller already has (a desk, optionally the
Slack handler and its signing secret); `create_app` does no I/O and reads no environment,
so tests build it in-process and production builds it from settings (see
`agentflow.approvals.settings.build_web_app`).

Who is asking is the app's one authenticator (``identify``; see `agentflow.web.identity`),
used by every page, the chat's included; its routes (a sign-in flow) and middleware (a session
cookie) come with it. With ``allowed_hosts`` the app answers only requests whose ``Host``
header names one of them (see `agentflow.web.hosts`); ``agentflow approvals serve``
always gives it one.

Routes::

    POST /slack/interactions   Slack's Interactivity Request URL (only with Slack configured)
    POST /slack/events         the Events API's Request URL: employees' DMs (with a SlackChat)
    GET  /approvals            the inbox of the person the ``identify`` callable names
    POST /approvals/decide     a decision from the inbox's forms
    GET  /conversations/{id}/timeline   a conversation's audit trail (only with an audit store)
    GET  /chat                 the employee's web chat (only with a Chat; see agentflow.web.chat)
    GET  /healthz              liveness
    /auth/…                    the authenticator's own routes (OpenID Connect sign-in)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from agentflow.approvals.desk import ApprovalDesk
from agentflow.approvals.slack.interactions import SlackInteractions
from agentflow.approvals.summary import Summariser, default_summary
from agentflow.exceptions import ConfigurationError
from agentflow.web.hosts import HostCheck
from agentflow.web.identity import Authenticator, Identify, as_authenticator, dev_identity
from agentflow.web.inbox import Inbox
from agentflow.web.slack import SlackEndpoint, SlackEventsEndpoint
from agentflow.web.timeline import ROUTE as TIMELINE_ROUTE
from agentflow.web.timeline import Timeline, conversation_of, timeline_path

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from agentflow.audit.store import AuditStore
    from agentflow.web.chat import Chat
    from agentflow.web.slack_chat import SlackChat


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _home(request: Request) -> Response:
    return RedirectResponse("/approvals" + (f"?{request.url.query}" if request.url.query else ""))


def _approval_timeline(approval_id: str) -> str:
    return timeline_path(conversation_of(approval_id))


def create_app(
    desk: ApprovalDesk,
    *,
    slack: SlackInteractions | None = None,
    signing_secret: str | None = None,
    summarise: Summariser = default_summary,
    identify: Identify | Authenticator = dev_identity,
    allowed_hosts: Sequence[str] | None = None,
    secret: bytes | None = None,
    audit: AuditStore | None = None,
    auditors: Collection[str] = (),
    chat: Chat | None = None,
    slack_chat: SlackChat | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Build the app. ``slack`` needs ``signing_secret``: no endpoint runs unverified.

    ``audit`` serves each conversation's timeline from that audit store (to its user, its
    approvers, and the ``auditors``; see `agentflow.web.timeline`). ``tracer_provider``
    records each Slack request the endpoint rejects (the desk records refused decisions itself).
    ``identify`` says who is asking on every page (default: ``?as=`` from this machine);
    ``allowed_hosts`` (``None``: any) the ``Host`` names the app answers to. ``slack_chat``
    lets employees chat with an agent in a Slack DM (it needs ``signing_secret`` too).
    """
    authenticator = as_authenticator(identify)
    identify = authenticator.identify
    inbox = Inbox(
        desk,
        summarise=summarise,
        identify=identify,
        secret=secret,
        conversation_link=_approval_timeline if audit is not None else None,
    )
    routes: list[BaseRoute] = [
        *authenticator.routes(),
        Route("/", _home),
        Route("/healthz", _health),
        Route("/approvals", inbox.page, methods=["GET"]),
        Route("/approvals/decide", inbox.decide, methods=["POST"]),
    ]
    if chat is not None:
        _share_identity(chat, identify)
        routes.extend(chat.routes())
    if audit is not None:
        timeline = Timeline(audit, desk.org, identify=identify, auditors=auditors)
        routes.append(Route(TIMELINE_ROUTE, timeline.page, methods=["GET"]))
    if slack is not None:
        if not signing_secret:
            raise ConfigurationError(
                "Slack interactivity needs the app's signing secret: set SLACK_SIGNING_SECRET"
            )
        routes.append(
            Route(
                "/slack/interactions",
                SlackEndpoint(slack, signing_secret, tracer_provider=tracer_provider).respond,
                methods=["POST"],
            )
        )
    if slack_chat is not None:
        if not signing_secret:
            raise ConfigurationError(
                "Slack events need the app's signing secret: set SLACK_SIGNING_SECRET"
            )
        events = SlackEventsEndpoint(slack_chat, signing_secret, tracer_provider=tracer_provider)
        routes.append(Route("/slack/events", events.respond, methods=["POST"]))
    middleware = [*authenticator.middleware()]
    if allowed_hosts is not None:
        # Outermost: a request under a name the app was not told about reaches nothing else.
        middleware.insert(0, Middleware(HostCheck, allowed_hosts=allowed_hosts))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.desk = desk
    app.state.slack = slack
    app.state.authenticator = authenticator
    return app


def _share_identity(chat: Chat, identify: Identify) -> None:
    """The chat identifies people as the rest of the app does, never by a weaker rule."""
    if chat.identify is dev_identity:
        chat.identify = identify
    elif chat.identify != identify:
        raise ConfigurationError(
            "the chat identifies people otherwise than the app: give create_app the "
            "authenticator, and the Chat none"
        )
