"""Who may approve, how a decision reaches the workflow, and how an approval is used once.

- :class:`OrgChart`: employees, reporting lines, approval limits by level, leaves and their
  delegates, in the application's database; resolves a request's approver chain.
- :class:`ApprovalDesk`: the path every channel (Slack, web inbox, CLI) takes from a person's
  decision to the approval workflow, checked against the org chart.
- :class:`ApprovalLedger`: the audit record of each approval (with its proposed, approved and
  executed calls, :class:`ApprovalCall`) and its single-use lock;
  :class:`LedgerChannel` records an approval's life from the worker.

The Slack channel lives in :mod:`agentflow.approvals.slack` (it needs ``slack-sdk``).
"""

from agentflow.approvals.desk import ApprovalDesk, PendingApproval
from agentflow.approvals.ledger import ApprovalLedger, LedgerChannel, schema_version
from agentflow.approvals.orgchart import EmployeeSpec, LeaveSpec, OrgChart, OrgChartSpec
from agentflow.approvals.tables import (
    ApprovalCall,
    ApprovalLimit,
    ApprovalRecord,
    Employee,
    Leave,
    create_tables,
)

__all__ = [
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
    "PendingApproval",
    # the ledger
    "ApprovalCall",
    "ApprovalLedger",
    "ApprovalRecord",
    "LedgerChannel",
    "schema_version",
]
