"""The approval ledger: an audit record per approval, and the lock that makes it single-use.

The runtime hands an approval to exactly one execution, but a bug, a replayed history or two
workers racing must still not turn one approval into two purchases. So a side-effecting tool
*uses* its approval through [`ApprovalLedger.use`][agentflow.approvals.ApprovalLedger.use] before
acting: one atomic ``UPDATE … SET consumed_at = now WHERE consumed_at IS NULL`` per approval, whose
row count says who won. The same execution retried (same idempotency key) finds its own claim and
goes on; any other execution is refused.

Three calls stay distinct ([`ApprovalCall`][agentflow.approvals.ApprovalCall]): the one the model
proposed, the one the approver approved (the same, or their edit of it), the one executed.

The record is written on the worker only, each write idempotent: the approval channel records
the request and the outcome as the approval workflow reports them
([`LedgerChannel`][agentflow.approvals.LedgerChannel]), and `use` claims the approval for the
execution (recording the decision the runtime carried, should a worker without a ledger channel have
run the approval). The desks that send votes write nothing: a decision is recorded once the workflow
has counted it, by the one writer that sees every decision, whichever desk, channel or client sent
it.
"""

from __future__ import annotations

from agentflow.extras import require

require("audit", "agentflow.approvals.ledger")  # a missing extra is one line naming it

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agentflow.approvals.records import ApprovalChannel, ApprovalNotice, ApprovalResult
from agentflow.approvals.rules import approval_id as approval_workflow_id
from agentflow.approvals.tables import ApprovalCall, ApprovalRecord, create_tables, now
from agentflow.binding import ApprovalDecision, ApprovalRequest, canonical_json
from agentflow.context import RunContext
from agentflow.tools import Tool


def schema_version(tool: Tool[Any]) -> str:
    """The version of the tool's arguments contract (``Tool.contract``), as the ledger keeps it."""
    return tool.contract


class ApprovalLedger:
    """Reads and writes [`ApprovalRecord`][agentflow.approvals.ApprovalRecord] rows."""

    def __init__(
        self,
        engine: Engine,
        *,
        policy_version: str = "",
        schema_versions: Mapping[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.policy_version = policy_version
        self.schema_versions = dict(schema_versions or {})
        create_tables(engine)

    def get(self, approval_id: str) -> ApprovalRecord | None:
        with Session(self.engine) as session:
            return session.get(ApprovalRecord, approval_id)

    def calls(self, approval_id: str) -> dict[str, ApprovalCall]:
        """The approval's calls by role: ``proposed``, ``approved``, ``executed`` (once known)."""
        with Session(self.engine) as session:
            query = select(ApprovalCall).where(ApprovalCall.approval_id == approval_id)
            return {call.role: call for call in session.exec(query).all()}

    # -- recording -----------------------------------------------------------------------------

    def record_request(
        self, approval_id: str, conversation_id: str, request: ApprovalRequest
    ) -> None:
        """Insert the request's record unless it exists (a retried notice finds it there)."""
        record = ApprovalRecord(
            approval_id=approval_id,
            conversation_id=conversation_id,
            tool=request.tool,
            tool_call_id=request.tool_call_id,
            schema_version=self.schema_versions.get(request.tool, ""),
            policy_version=self.policy_version,
            digest=request.digest,
            arguments=canonical_json(request.arguments),
            reasons=json.dumps(list(request.reasons)),
            requester=request.requester,
            approvers=json.dumps(list(request.approvers)),
            requested_at=now(),
        )
        self._insert_if_absent(record)
        self._record_call(approval_id, "proposed", request.tool, request.digest, request.arguments)

    def record_result(self, approval_id: str, result: ApprovalResult) -> None:
        """Write the outcome once; a record already decided keeps its first outcome."""
        decision = result.decision
        statement = (
            update(ApprovalRecord)
            .where(
                col(ApprovalRecord.approval_id) == approval_id,
                col(ApprovalRecord.state) == "pending",
            )
            .values(
                state=decision.outcome,
                authority=decision.approver,
                decided_by=result.decided_by or decision.approver,
                reason=decision.reason,
                decided_at=result.decided_at,
            )
        )
        with self.engine.begin() as connection:
            connection.execute(statement)
        record = self.get(approval_id)
        if decision.approved and record is not None and record.digest == decision.request_digest:
            arguments = decision.arguments
            if arguments is None:
                arguments = json.loads(record.arguments)
            self._record_call(approval_id, "approved", record.tool, decision.digest, arguments)

    def record_notice(self, notice: ApprovalNotice) -> None:
        """What `LedgerChannel` does with each notice of an approval's life."""
        self.record_request(notice.workflow_id, notice.conversation_id, notice.request)
        if notice.result is not None and notice.kind in ("decided", "expired"):
            self.record_result(notice.workflow_id, notice.result)
        if notice.kind == "voided":
            self.record_voided(notice.workflow_id, notice.reason)

    def record_voided(self, approval_id: str, reason: str) -> None:
        """An approval given but never used, voided by a change of the tool's contract."""
        statement = (
            update(ApprovalRecord)
            .where(
                col(ApprovalRecord.approval_id) == approval_id,
                col(ApprovalRecord.state) == "approved",
                col(ApprovalRecord.consumed_at).is_(None),
            )
            .values(state="voided", reason=reason)
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    # -- single use ----------------------------------------------------------------------------

    def consume(
        self,
        approval_id: str,
        decision: ApprovalDecision,
        *,
        key: str,
        tool: str,
        requester: str | None,
        conversation_id: str = "",
        tool_call_id: str = "",
    ) -> bool:
        """Claim the approval for the execution identified by ``key``; ``True`` if it may run.

        ``False`` (fail closed) when the approval is not an approval, was given for another
        digest than the one recorded, or was already used by another execution.
        """
        if not decision.approved:
            return False
        approved = self.calls(approval_id).get("approved")
        if approved is not None and approved.digest != decision.digest:
            # The approver approved another call than the one about to run.
            return False
        self._insert_if_absent(
            ApprovalRecord(
                approval_id=approval_id,
                conversation_id=conversation_id,
                tool=tool,
                tool_call_id=tool_call_id,
                schema_version=self.schema_versions.get(tool, ""),
                policy_version=self.policy_version,
                digest=decision.request_digest,
                requester=requester,
                state="approved",
                authority=decision.approver,
                decided_by=decision.approver,
                reason=decision.reason,
            )
        )
        claim = (
            update(ApprovalRecord)
            .where(
                col(ApprovalRecord.approval_id) == approval_id,
                col(ApprovalRecord.digest) == decision.request_digest,
                col(ApprovalRecord.state).in_(("approved", "pending")),
                col(ApprovalRecord.consumed_at).is_(None),
            )
            .values(
                consumed_at=now(),
                consumed_by=key,
                state="approved",
                authority=decision.approver,
            )
        )
        with self.engine.begin() as connection:
            claimed = connection.execute(claim).rowcount == 1
        record = self.get(approval_id)
        if claimed and record is not None:
            # The executor ran exactly the call whose digest the decision carries (it refuses
            # any other): the edited arguments when the approver edited, else the proposed ones.
            arguments = decision.arguments
            if arguments is None:
                arguments = json.loads(record.arguments)
            self._record_call(approval_id, "executed", tool, decision.digest, arguments)
            return True
        # A retry of the execution that already holds the claim may go on (its tool is
        # idempotent under the same key); nobody else may.
        return (
            record is not None
            and record.digest == decision.request_digest
            and record.consumed_by == key
        )

    def use(self, ctx: RunContext[Any], tool: str) -> bool:
        """`consume` the approval a tool body received in ``ctx`` (``False`` if none).

        The runtime has already checked that the approval is for this call's digest; the ledger
        adds that it is used once.
        """
        if ctx.approval is None:
            return False
        return self.consume(
            approval_workflow_id(ctx.conversation_id, ctx.tool_call_id),
            ctx.approval,
            key=ctx.idempotency_key,
            tool=tool,
            requester=ctx.user,
            conversation_id=ctx.conversation_id,
            tool_call_id=ctx.tool_call_id,
        )

    def _record_call(
        self, approval_id: str, role: str, tool: str, digest: str, arguments: dict[str, Any]
    ) -> None:
        """Write one of the approval's calls once; the first writer's row stands."""
        with Session(self.engine) as session:
            found = session.exec(
                select(ApprovalCall).where(
                    ApprovalCall.approval_id == approval_id, ApprovalCall.role == role
                )
            ).first()
            if found is not None:
                return
            session.add(
                ApprovalCall(
                    approval_id=approval_id,
                    role=role,
                    tool=tool,
                    digest=digest,
                    arguments=canonical_json(arguments),
                    recorded_at=now(),
                )
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()

    def _insert_if_absent(self, record: ApprovalRecord) -> None:
        with Session(self.engine) as session:
            if session.get(ApprovalRecord, record.approval_id) is not None:
                return
            session.add(record)
            try:
                session.commit()
            except IntegrityError:
                # Another writer inserted it between our read and our write: theirs stands.
                session.rollback()


class LedgerChannel:
    """An approval channel that records each notice in the ledger, then passes it on.

    Recording comes first: if the next channel (Slack) fails, the activity is retried and the
    recording, being idempotent, is simply found done.
    """

    def __init__(self, ledger: ApprovalLedger, then: ApprovalChannel | None = None) -> None:
        self.ledger = ledger
        self.then = then

    async def notify(self, notice: ApprovalNotice) -> None:
        # The database driver blocks: keep the worker's event loop free for other activities.
        await asyncio.to_thread(self.ledger.record_notice, notice)
        if self.then is not None:
            await self.then.notify(notice)
