"""Approvals in Slack: Block Kit requests, in-place updates, interactivity, Socket Mode.

Needs ``slack-sdk`` (and ``aiohttp`` for its async client), which is why it is a sub-package
that [`agentflow.approvals`][] does not import.
"""

from agentflow.extras import require

require("slack", "agentflow.approvals.slack")

# After the check, so that a missing extra is one line naming it.
from agentflow.approvals.slack.api import Posted, SlackApi  # noqa: E402
from agentflow.approvals.slack.blocks import (  # noqa: E402
    APPROVE_ACTION,
    DENY_ACTION,
    DENY_CALLBACK,
    closed_blocks,
    deny_modal,
    request_blocks,
)
from agentflow.approvals.slack.channel import SlackChannel  # noqa: E402
from agentflow.approvals.slack.interactions import SlackInteractions  # noqa: E402
from agentflow.approvals.slack.socket import ApprovalSocket, connect_socket_mode, socket_listener  # noqa: E402

__all__ = [
    "APPROVE_ACTION",
    "ApprovalSocket",
    "DENY_ACTION",
    "DENY_CALLBACK",
    "Posted",
    "SlackApi",
    "SlackChannel",
    "SlackInteractions",
    "closed_blocks",
    "connect_socket_mode",
    "deny_modal",
    "request_blocks",
    "socket_listener",
]
