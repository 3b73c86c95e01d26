"""The travel app's tables: bookings, employee profiles, policy versions, the seed record.

The schema the app created with ``create_all`` before it had migrations; a database made that
way is adopted with its rows (see :mod:`agentflow.migrations.ops`). The profiles refer to
agentflow's ``agentflow_employee``: agentflow's ``approvals`` branch runs first.

Revision ID: travel_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agentflow.migrations.ops import create_index, create_table

revision = "travel_0001"
down_revision: str | None = None
branch_labels = ("travel",)
depends_on: str | None = None

ACTIVE = sa.text("status = 'booked'")


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def upgrade() -> None:
    create_table(
        "booking",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("idempotency_key"),
        _text("employee"),
        _text("offer_id"),
        _text("flight"),
        _text("departure"),
        _text("cabin"),
        sa.Column("price", sa.Float(), nullable=False),
        _text("approved_by", nullable=True),
        _text("status"),
        sa.PrimaryKeyConstraint("id"),
    )
    create_index("ix_booking_employee", "booking", ["employee"])
    create_index("ix_booking_idempotency_key", "booking", ["idempotency_key"], unique=True)
    # A traveller never holds the same flight twice. On a table that already holds such
    # twins this fails, and prepare_store names them: which to cancel is a person's decision.
    create_index(
        "ux_booking_active_offer",
        "booking",
        ["employee", "offer_id"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    create_table(
        "travel_employee_profile",
        _text("employee_id"),
        _text("home_airport"),
        _text("office"),
        _text("department"),
        _text("cost_centre"),
        sa.PrimaryKeyConstraint("employee_id"),
        sa.ForeignKeyConstraint(["employee_id"], ["agentflow_employee.id"]),
    )
    create_table(
        "travel_policy",
        _text("version"),
        _text("parameters"),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    create_table(
        "travel_company_seed",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("employees", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for table in ("travel_company_seed", "travel_policy", "travel_employee_profile", "booking"):
        op.drop_table(table)  # with its indexes
