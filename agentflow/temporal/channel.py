"""The approval channel of last resort, and the channel protocol's old address.

[`ApprovalChannel`][agentflow.temporal.ApprovalChannel] lives with the other approval types in
`agentflow.approvals.records`; it is importable from here as well.
"""

from __future__ import annotations

import logging

from agentflow.approvals.records import ApprovalChannel, ApprovalNotice

__all__ = ["ApprovalChannel", "LogChannel"]

log = logging.getLogger("agentflow.approvals")


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
