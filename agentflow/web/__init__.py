"""The web app: Slack's interactivity endpoint and the local approval inbox."""

from agentflow.web.app import create_app
from agentflow.web.inbox import Identify, Inbox, dev_identity, header_identity
from agentflow.web.slack import SlackEndpoint

__all__ = ["Identify", "Inbox", "SlackEndpoint", "create_app", "dev_identity", "header_identity"]
