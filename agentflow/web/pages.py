"""The web app's HTML: Jinja2 templates from ``agentflow/web/templates``, escaped by default.

Every page the app serves is a template rendered through Starlette's
:class:`~starlette.templating.Jinja2Templates`; no module assembles HTML from strings. Every
value put into a template is HTML-escaped (``autoescape``), so a handle, a message or a tool
argument shows as text whatever characters it holds. Values are escaped as :func:`html.escape`
does (``'`` as ``&#x27;``, ``"`` as ``&quot;``): the entities these pages have always used.

The templates are read from the installed package (they ship in the wheel with the code), and
no path from a URL ever names one.
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
    return TEMPLATES.TemplateResponse(request, name, dict(context or {}), status_code=status)
