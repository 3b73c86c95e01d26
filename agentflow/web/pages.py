"""The web app's HTML: Jinja2 templates from ``agentflow/web/templates``, escaped by default.

Every page the app serves is a template rendered through Starlette's
`Jinja2Templates`; no module assembles HTML from strings. Every
value put into a template is HTML-escaped (``autoescape``), so a handle, a message or a tool
argument shows as text whatever characters it holds. Values are escaped as `html.escape`
does (``'`` as ``&#x27;``, ``"`` as ``&quot;``): the entities these pages have always used.

The templates are read from the installed package (they ship in the wheel with the code), and
no path from a URL ever names one. Every page also gets what the app's authenticator wants
shown (see `agentflow.web.identity`): ``identity_notice``, the development identity's
warning at the top of the page, and ``sign_in``, where someone not yet identified signs in.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from agentflow.web.identity import DEVELOPMENT_NOTICE, Authenticator


def _escaped(value: object) -> object:
    """Every ``{{ value }}``, escaped before autoescaping sees it (which then leaves it be).

    Jinja's own escaping writes ``&#39;`` and ``&#34;``; this keeps the stdlib's entities.
    Markup a template built itself (a macro's output) is already safe and passes unchanged.
    """
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value)))


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("agentflow.web", "templates"),
        autoescape=True,
        finalize=_escaped,
        undefined=StrictUndefined,  # a misspelt name fails the request, never renders as ""
        trim_blocks=True,
        lstrip_blocks=True,
    )


TEMPLATES = Jinja2Templates(env=_environment())
"""The one template set of the web app."""


def render(
    request: Request, name: str, context: Mapping[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """The page ``name`` (a file in ``templates/``) with ``context``, as a response."""
    page = identity_context(request) | dict(context or {})
    return TEMPLATES.TemplateResponse(request, name, page, status_code=status)


def identity_context(request: Request) -> dict[str, str | None]:
    """What the app's authenticator (``app.state.authenticator``) has every page show."""
    app = request.scope.get("app")
    authenticator = getattr(getattr(app, "state", None), "authenticator", None)
    if not isinstance(authenticator, Authenticator):
        return {"identity_notice": None, "sign_in": None}
    return {
        "identity_notice": DEVELOPMENT_NOTICE if authenticator.development else None,
        "sign_in": authenticator.sign_in_url(request),
    }
