"""Who may approve, how a decision reaches the workflow, and how an approval is used once.

- [`Directory`][agentflow.approvals.Directory]: who approvers are, as a protocol. A request's
  approvers are whoever its rule named (``NeedsApproval(approvers=[...])``), on every channel, with
  no table needed; a directory adds names, Slack ids and stand-ins.
  [`NoDirectory`][agentflow.approvals.NoDirectory] knows nobody.
- [`OrgChart`][agentflow.approvals.OrgChart]: one directory: employees, reporting lines, approval
  limits by level, leaves and their delegates, in the application's database; resolves a request's
  approver chain.
- [`ApprovalDesk`][agentflow.approvals.ApprovalDesk]: the path every channel (Slack, web inbox, CLI)
  takes from a person's decision to the approval workflow, checked against the org chart.
- [`ApprovalLedger`][agentflow.approvals.ApprovalLedger]: the audit record of each approval (with
  its proposed, approved and executed calls, [`ApprovalCall`][agentflow.approvals.ApprovalCall]) and
  its single-use lock; [`LedgerChannel`][agentflow.approvals.LedgerChannel] records an approval's
  life from the worker.
- `agentflow.approvals.records`: what an approval's life is made of
  ([`ApprovalVote`][agentflow.temporal.ApprovalVote],
  [`ApprovalResult`][agentflow.temporal.ApprovalResult],
  [`ApprovalStatus`][agentflow.temporal.ApprovalStatus],
  [`ApprovalNotice`][agentflow.temporal.ApprovalNotice],
  [`Delegation`][agentflow.approvals.Delegation]) and the
  [`ApprovalChannel`][agentflow.temporal.ApprovalChannel] protocol that notices go through.

`agentflow.approvals.rules` holds every rule about who may decide what, written once.
The Slack channel lives in `agentflow.approvals.slack` (it needs ``slack-sdk``).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentflow.approvals.desk import ApprovalDesk, PendingApproval
    from agentflow.approvals.directory import Directory, NoDirectory, Person
    from agentflow.approvals.ledger import ApprovalLedger, LedgerChannel, schema_version
    from agentflow.approvals.orgchart import EmployeeSpec, LeaveSpec, OrgChart, OrgChartSpec
    from agentflow.approvals.records import (
        ApprovalChannel,
        ApprovalNotice,
        ApprovalResult,
        ApprovalStatus,
        ApprovalVote,
        Delegation,
    )
    from agentflow.approvals.tables import (
        ApprovalCall,
        ApprovalLimit,
        ApprovalRecord,
        Employee,
        Leave,
        create_tables,
    )

_HOMES = {
    "Directory": "directory",
    "NoDirectory": "directory",
    "Person": "directory",
    "ApprovalDesk": "desk",
    "PendingApproval": "desk",
    "ApprovalLedger": "ledger",
    "LedgerChannel": "ledger",
    "schema_version": "ledger",
    "EmployeeSpec": "orgchart",
    "LeaveSpec": "orgchart",
    "OrgChart": "orgchart",
    "OrgChartSpec": "orgchart",
    "ApprovalChannel": "records",
    "ApprovalNotice": "records",
    "ApprovalResult": "records",
    "ApprovalStatus": "records",
    "ApprovalVote": "records",
    "Delegation": "records",
    "ApprovalCall": "tables",
    "ApprovalLimit": "tables",
    "ApprovalRecord": "tables",
    "Employee": "tables",
    "Leave": "tables",
    "create_tables": "tables",
}

_EXTRAS = {"desk": "temporal", "ledger": "audit", "orgchart": "audit", "tables": "audit"}
"""The extra each module's names need (records and directories are plain Python)."""


def __getattr__(name: str) -> Any:
    """Import a name's module on first use.

    The rulebook (`rules`) is read by the core and by workflow code, which must not load
    the desk's Temporal client or the database just to import it.
    """
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    extra = _EXTRAS.get(home)
    if extra is not None:
        from agentflow.extras import require

        require(extra, f"agentflow.approvals.{name}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    # who approvers are
    "Directory",
    "NoDirectory",
    "Person",
    # the org chart
    "ApprovalLimit",
    "Employee",
    "EmployeeSpec",
    "Leave",
    "LeaveSpec",
    "OrgChart",
    "OrgChartSpec",
    "create_tables",
    # deciding
    "ApprovalDesk",
    "ApprovalResult",
    "ApprovalStatus",
    "ApprovalVote",
    "Delegation",
    "PendingApproval",
    # telling people
    "ApprovalChannel",
    "ApprovalNotice",
    # the ledger
    "ApprovalCall",
    "ApprovalLedger",
    "ApprovalRecord",
    "LedgerChannel",
    "schema_version",
]
