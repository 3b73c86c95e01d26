"""The web app: Slack's interactivity endpoint and the local approval inbox."""

from agentflow.web.app import create_app
from agentflow.web.chat import Card, CardRenderer, Chat
from agentflow.web.inbox import Identify, Inbox, dev_identity, header_identity
from agentflow.web.slack import SlackEndpoint
from agentflow.web.timeline import Timeline

__all__ = [
    "Card",
    "CardRenderer",
    "Chat",
    "Identify",
    "Inbox",
    "SlackEndpoint",
    "Timeline",
    "create_app",
    "dev_identity",
    "header_identity",
]
