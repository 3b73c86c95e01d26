"""Where a conversation's timeline lives, for whatever links to it from an approval.

The web app serves the timeline (`agentflow.web.timeline`); Slack messages and the web
inbox link to it. The path is defined here, apart from the web app, so that a worker posting to
Slack builds the link without importing the web stack.
"""

from __future__ import annotations

from urllib.parse import quote

from agentflow.approvals.rules import conversation_of

__all__ = ["TIMELINE_ROUTE", "conversation_of", "timeline_path", "timeline_url"]

TIMELINE_ROUTE = "/conversations/{conversation_id:path}/timeline"
"""The Starlette route (conversation ids may contain ``/``)."""


def timeline_path(conversation_id: str) -> str:
    """The timeline's path for ``conversation_id``, quoted (``/`` kept)."""
    return f"/conversations/{quote(conversation_id, safe='/')}/timeline"


def timeline_url(public_url: str, conversation_id: str) -> str:
    """The timeline's absolute URL under the app's public base URL (``AGENTFLOW_PUBLIC_URL``)."""
    return public_url.rstrip("/") + timeline_path(conversation_id)
