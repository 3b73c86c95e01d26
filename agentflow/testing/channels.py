"""An approval channel for tests: records every notice instead of posting it anywhere."""

from __future__ import annotations

from agentflow.approvals.records import ApprovalNotice, NoticeKind


class RecordingChannel:
    """Plugs into the approval-channel seam of [`agentflow.temporal.create_worker`][]."""

    def __init__(self) -> None:
        self.notices: list[ApprovalNotice] = []

    async def notify(self, notice: ApprovalNotice) -> None:
        self.notices.append(notice)

    def kinds(self, workflow_id: str | None = None) -> list[NoticeKind]:
        return [n.kind for n in self.notices if workflow_id in (None, n.workflow_id)]
