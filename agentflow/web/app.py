"""The web app: the Slack interactivity endpoint and the local approval inbox.

One Starlette application, built from objects the caller already has (a desk, optionally the
Slack handler and its signing secret); :func:`create_app` does no I/O and reads no environment,
so tests build it in-process and production builds it from settings (see
:func:`agentflow.approvals.settings.build_web_app`).

Routes::

    POST /slack/interactions   Slack's Interactivity Request URL (only with Slack configured)
    GET  /approvals            the inbox of the person the ``identify`` callable names
    POST /approvals/decide     a decision from the inbox's forms
    GET  /conversations/{id}/timeline   a conversation's audit trail (only with an audit store)
    GET  /chat                 the employee's web chat (only with a Chat; see agentflow.web.chat)
    GET  /healthz              liveness
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from agentflow.approvals.desk import ApprovalDesk
from agentflow.approvals.slack.interactions import SlackInteractions
from agentflow.approvals.summary import Summariser, default_summary
from agentflow.exceptions import ConfigurationError
from agentflow.web.inbox import Identify, Inbox, dev_identity
from agentflow.web.slack import SlackEndpoint
from agentflow.web.timeline import ROUTE as TIMELINE_ROUTE
from agentflow.web.timeline import Timeline, conversation_of, timeline_path

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from agentflow.audit.store import AuditStore
    from agentflow.web.chat import Chat


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
    identify: Identify = dev_identity,
    secret: bytes | None = None,
    audit: AuditStore | None = None,
    auditors: Collection[str] = (),
    chat: Chat | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Build the app. ``slack`` needs ``signing_secret``: no endpoint runs unverified.

    ``audit`` serves each conversation's timeline from that audit store (to its user, its
    approvers, and the ``auditors``; see :mod:`agentflow.web.timeline`). ``tracer_provider``
    records each Slack request the endpoint rejects (the desk records refused decisions itself).
    """
    inbox = Inbox(
        desk,
        summarise=summarise,
        identify=identify,
        secret=secret,
        conversation_link=_approval_timeline if audit is not None else None,
    )
    routes = [
        Route("/", _home),
        Route("/healthz", _health),
        Route("/approvals", inbox.page, methods=["GET"]),
        Route("/approvals/decide", inbox.decide, methods=["POST"]),
    ]
    if chat is not None:
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
    app = Starlette(routes=routes)
    app.state.desk = desk
    app.state.slack = slack
    return app
