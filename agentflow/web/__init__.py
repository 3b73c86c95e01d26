"""The web app: Slack's endpoints, the approval inbox, the chats (web, Slack DM), the timeline.

Sign-in with OpenID Connect is :class:`agentflow.web.oidc.OIDCSignIn` (imported from there, so
that Authlib is loaded only by the apps that use it).
"""

from agentflow.web.app import create_app
from agentflow.web.chat import Card, CardRenderer, Chat
from agentflow.web.identity import (
    Authenticator,
    DevIdentity,
    Identify,
    TrustedProxy,
    dev_identity,
    header_identity,
)
from agentflow.web.inbox import Inbox
from agentflow.web.slack import SlackEndpoint, SlackEventsEndpoint
from agentflow.web.slack_chat import HomeSection, SlackChat
from agentflow.web.timeline import Timeline

__all__ = [
    "Card",
    "CardRenderer",
    "Chat",
    "Inbox",
    "HomeSection",
    "SlackChat",
    "SlackEndpoint",
    "SlackEventsEndpoint",
    "Timeline",
    "create_app",
    # who is asking
    "Authenticator",
    "DevIdentity",
    "Identify",
    "TrustedProxy",
    "dev_identity",
    "header_identity",
]
