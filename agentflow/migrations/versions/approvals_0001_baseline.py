"""The approval tables: the org chart, the approval ledger, Slack posts.

The schema agentflow created with ``create_all`` before it had migrations; a database made that
way is adopted with its rows (see `agentflow.migrations.ops`).

Revision ID: approvals_0001
Revises:
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

from agentflow.migrations.ops import create_index, create_table

revision = "approvals_0001"
down_revision: str | None = None
branch_labels = ("approvals",)
depends_on: str | None = None


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _when(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    create_table(
        "agentflow_employee",
        _text("id"),
        _text("name"),
        _text("email", nullable=True),
        _text("slack_user_id", nullable=True),
        _text("manager_id", nullable=True),
        _text("level"),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["manager_id"], ["agentflow_employee.id"]),
    )
    create_index("ix_agentflow_employee_manager_id", "agentflow_employee", ["manager_id"])
    create_index(
        "ix_agentflow_employee_slack_user_id",
        "agentflow_employee",
        ["slack_user_id"],
        unique=True,
    )
    create_table(
        "agentflow_approval_limit",
        _text("level"),
        sa.Column("max_amount", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("level"),
    )
    create_table(
        "agentflow_leave",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("employee_id"),
        _text("delegate_id"),
        _when("starts"),
        _when("ends"),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["employee_id"], ["agentflow_employee.id"]),
        sa.ForeignKeyConstraint(["delegate_id"], ["agentflow_employee.id"]),
    )
    create_index("ix_agentflow_leave_delegate_id", "agentflow_leave", ["delegate_id"])
    create_index("ix_agentflow_leave_employee_id", "agentflow_leave", ["employee_id"])
    create_table(
        "agentflow_approval",
        _text("approval_id"),
        _text("conversation_id"),
        _text("tool"),
        _text("tool_call_id"),
        _text("schema_version"),
        _text("policy_version"),
        _text("digest"),
        _text("arguments"),
        _text("reasons"),
        _text("requester", nullable=True),
        _text("approvers"),
        _text("state"),
        _text("authority", nullable=True),
        _text("decided_by", nullable=True),
        _text("reason"),
        _when("requested_at", nullable=True),
        _when("decided_at", nullable=True),
        _when("consumed_at", nullable=True),
        _text("consumed_by", nullable=True),
        sa.PrimaryKeyConstraint("approval_id"),
    )
    create_index("ix_agentflow_approval_conversation_id", "agentflow_approval", ["conversation_id"])
    create_index("ix_agentflow_approval_digest", "agentflow_approval", ["digest"])
    create_table(
        "agentflow_approval_call",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("approval_id"),
        _text("role"),
        _text("tool"),
        _text("digest"),
        _text("arguments"),
        _when("recorded_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("approval_id", "role"),
    )
    create_index(
        "ix_agentflow_approval_call_approval_id", "agentflow_approval_call", ["approval_id"]
    )
    create_table(
        "agentflow_slack_post",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("approval_id"),
        _text("kind"),
        _text("recipient"),
        _text("channel"),
        _text("ts"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("approval_id", "kind", "recipient"),
    )
    create_index("ix_agentflow_slack_post_approval_id", "agentflow_slack_post", ["approval_id"])


def downgrade() -> None:
    for table in (
        "agentflow_slack_post",
        "agentflow_approval_call",
        "agentflow_approval",
        "agentflow_leave",
        "agentflow_approval_limit",
        "agentflow_employee",
    ):
        op.drop_table(table)  # with its indexes
