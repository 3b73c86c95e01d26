"""The web app: the Slack interactivity endpoint and the local approval inbox.

One Starlette application, built from objects the caller already has (a desk, optionally the
Slack handler and its signing secret); :func:`create_app` does no I/O and reads no environment,
so tests build it in-process and production builds it from settings (see
:func:`agentflow.approvals.settings.build_web_app`).

Routes::

    POST /slack/interactions   Slack's Interactivity Request URL (only with Slack configured)
    GET  /approvals            the inbox of the person the ``identify`` callable names
    POST /approvals/decide     a decision from the inbox's forms
    GET  /healthz              liveness
"""

from __future__ import annotations

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


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _home(request: Request) -> Response:
    return RedirectResponse("/approvals" + (f"?{request.url.query}" if request.url.query else ""))


def create_app(
    desk: ApprovalDesk,
    *,
    slack: SlackInteractions | None = None,
    signing_secret: str | None = None,
    summarise: Summariser = default_summary,
    identify: Identify = dev_identity,
    secret: bytes | None = None,
) -> Starlette:
    """Build the app. ``slack`` needs ``signing_secret``: no endpoint runs unverified."""
    inbox = Inbox(desk, summarise=summarise, identify=identify, secret=secret)
    routes = [
        Route("/", _home),
        Route("/healthz", _health),
        Route("/approvals", inbox.page, methods=["GET"]),
        Route("/approvals/decide", inbox.decide, methods=["POST"]),
    ]
    if slack is not None:
        if not signing_secret:
            raise ConfigurationError(
                "Slack interactivity needs the app's signing secret: set SLACK_SIGNING_SECRET"
            )
        routes.append(
            Route(
                "/slack/interactions",
                SlackEndpoint(slack, signing_secret).respond,
                methods=["POST"],
            )
        )
    app = Starlette(routes=routes)
    app.state.desk = desk
    app.state.slack = slack
    return app
