"""The web app: Slack's endpoints, the approval inbox, the chats (web, Slack DM), the timeline.

Sign-in with OpenID Connect is `agentflow.web.oidc.OIDCSignIn` (imported from there, so
that Authlib is loaded only by the apps that use it).
"""

from agentflow.extras import require

require("web", "agentflow.web")

# After the check, so that a missing extra is one line naming it.
from agentflow.web.app import create_app  # noqa: E402
from agentflow.web.chat import Card, CardRenderer, Chat  # noqa: E402
from agentflow.web.identity import (  # noqa: E402
    Authenticator,
    DevIdentity,
    Identify,
    TrustedProxy,
    dev_identity,
    header_identity,
)
from agentflow.web.inbox import Inbox  # noqa: E402
from agentflow.web.slack import SlackEndpoint, SlackEventsEndpoint  # noqa: E402
from agentflow.web.slack_chat import HomeSection, SlackChat  # noqa: E402
from agentflow.web.timeline import Timeline  # noqa: E402

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
