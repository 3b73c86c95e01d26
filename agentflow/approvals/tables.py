"""The database tables behind approvals: the org chart, the approval ledger, Slack messages.

They live in the application's database (SQLite by default, PostgreSQL by ``DATABASE_URL``),
next to the application's own tables, so every name is prefixed ``agentflow_``. Table models
stay here, apart from the pydantic models the API exposes (STYLE: sqlmodel/FastAPI docs). The
schema itself is made by migrations (`agentflow.migrations`, branch ``approvals``): a
change to these models comes with a revision there.

Datetimes are stored as UTC. SQLite hands them back without a timezone, so readers go through
`utc`, which makes every datetime that leaves this package timezone-aware.

(sqlmodel types ``__tablename__`` as a ``declared_attr``; assigning a plain string is its
documented use, hence the ``reportAssignmentType`` ignores.)
"""

from __future__ import annotations

from agentflow.extras import require

require("audit", "agentflow.approvals.tables")  # a missing extra is one line naming it

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, UniqueConstraint
from sqlmodel import Field, SQLModel

from agentflow.migrations import APPROVALS, upgrade


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive values are taken to be UTC already)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    # A fresh Column per field: SQLAlchemy binds a Column object to exactly one table.
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


class Employee(SQLModel, table=True):
    """Someone in the company: who they report to, their level, how Slack knows them."""

    __tablename__ = "agentflow_employee"  # pyright: ignore[reportAssignmentType]

    id: str = Field(primary_key=True)
    """The handle every channel uses (``alice``): the conversation's user, a vote's approver."""
    name: str
    email: str | None = None
    slack_user_id: str | None = Field(default=None, unique=True, index=True)
    manager_id: str | None = Field(default=None, foreign_key="agentflow_employee.id", index=True)
    level: str = "staff"
    """Looked up in `ApprovalLimit` to decide which amounts this person may approve."""


class ApprovalLimit(SQLModel, table=True):
    """The largest amount someone at ``level`` may approve (a level without a row: none)."""

    __tablename__ = "agentflow_approval_limit"  # pyright: ignore[reportAssignmentType]

    level: str = Field(primary_key=True)
    max_amount: float


class Leave(SQLModel, table=True):
    """``employee_id`` is away from ``starts`` until ``ends``; ``delegate_id`` decides for them."""

    __tablename__ = "agentflow_leave"  # pyright: ignore[reportAssignmentType]

    id: int | None = Field(default=None, primary_key=True)
    employee_id: str = Field(foreign_key="agentflow_employee.id", index=True)
    delegate_id: str = Field(foreign_key="agentflow_employee.id", index=True)
    starts: datetime = _when()
    ends: datetime = _when()


class ApprovalRecord(SQLModel, table=True):
    """One approval, from request to consumption: the audit record and the single-use lock.

    ``consumed_at`` is set once, by an atomic ``UPDATE … WHERE consumed_at IS NULL``: of two
    executions racing to use one approval, exactly one sees its update succeed.
    """

    __tablename__ = "agentflow_approval"  # pyright: ignore[reportAssignmentType]

    approval_id: str = Field(primary_key=True)
    conversation_id: str = Field(index=True)
    tool: str
    tool_call_id: str
    schema_version: str = ""
    """Hash of the tool's argument schema when the request was made."""
    policy_version: str = ""
    digest: str = Field(index=True)
    arguments: str = "{}"
    """Canonical JSON of the arguments the approver was shown."""
    reasons: str = "[]"
    """JSON list: the text of every rule that asked for approval."""
    requester: str | None = None
    approvers: str = "[]"
    """JSON list: the approver chain resolved from the org chart when the request was made."""
    state: str = "pending"
    """pending, approved, denied or expired."""
    authority: str | None = None
    """The approver in the chain under whose authority the call may run."""
    decided_by: str | None = None
    """Who clicked: the approver, or their delegate while they are on leave."""
    reason: str = ""
    requested_at: datetime | None = _when(nullable=True)
    decided_at: datetime | None = _when(nullable=True)
    consumed_at: datetime | None = _when(nullable=True)
    consumed_by: str | None = None
    """The idempotency key of the one execution that used the approval."""


class ApprovalCall(SQLModel, table=True):
    """One of the calls an approval involves, kept apart: proposed, approved, executed.

    The model *proposed* a call; the approver *approved* it as it was or edited (a cheaper
    fare: a new call, with its own digest); the runtime *executed* the call the approval was
    for. One row per role and approval, written once.
    """

    __tablename__ = "agentflow_approval_call"  # pyright: ignore[reportAssignmentType]
    __table_args__ = (UniqueConstraint("approval_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    approval_id: str = Field(index=True)
    role: str
    """proposed, approved or executed."""
    tool: str
    digest: str
    arguments: str
    """Canonical JSON of the call's arguments."""
    recorded_at: datetime = _when()


class SlackPost(SQLModel, table=True):
    """A Slack message posted about an approval, so it can be updated and never posted twice.

    The approval channel runs in an activity that Temporal may retry: the unique key
    (approval, kind, recipient) makes a retried notice find its earlier post instead of
    sending a duplicate.
    """

    __tablename__ = "agentflow_slack_post"  # pyright: ignore[reportAssignmentType]
    __table_args__ = (UniqueConstraint("approval_id", "kind", "recipient"),)

    id: int | None = Field(default=None, primary_key=True)
    approval_id: str = Field(index=True)
    kind: str
    """request (carries the buttons), reminder, escalation or outcome."""
    recipient: str
    """The employee the post is for."""
    channel: str
    ts: str


TABLES = (Employee, ApprovalLimit, Leave, ApprovalRecord, ApprovalCall, SlackPost)


def create_tables(engine: Engine) -> None:
    """Bring the approval tables (and only them) to the schema these models describe.

    Runs the ``approvals`` branch of `agentflow.migrations`: an empty database gets the
    tables, one that ``create_all`` made earlier keeps its rows, one already migrated costs a
    query.
    """
    upgrade(engine, APPROVALS)


def now() -> datetime:
    return datetime.now(UTC)
