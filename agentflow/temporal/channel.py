"""Where approval requests are shown to humans: Slack, a web inbox, a log.

The approval workflow calls the channel through an activity for each step of an approval's
life (requested, reminder, escalated, decided, expired). Channels are plain objects with one
async method; the decision itself always comes back through the workflow's ``decide`` update.
"""

from __future__ import annotations

import logging
from typing import Protocol

from agentflow.temporal.contracts import ApprovalNotice

log = logging.getLogger("agentflow.approvals")


class ApprovalChannel(Protocol):
    async def notify(self, notice: ApprovalNotice) -> None: ...


class LogChannel:
    """The channel of last resort: writes each notice to the ``agentflow.approvals`` logger."""

    async def notify(self, notice: ApprovalNotice) -> None:
        log.info(
            "approval %s: %s(%s) for %s -> %s",
            notice.kind,
            notice.request.tool,
            notice.request.digest[:12],
            notice.request.requester,
            ", ".join(notice.approvers) or "anyone authorised",
        )
