"""Model calls' text as it is written, for clients to read while the call goes on.

A table of rows that live for one model call each (see `agentflow.temporal.live`).

Revision ID: live_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "live_0001"
down_revision: str | None = None
branch_labels = ("live",)
depends_on: str | None = None

TABLE = "agentflow_live_text"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("call", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("restart", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # Ids are never reused (SQLite would reuse them once the table is empty): a client
        # reads the rows after the last id it saw.
        sqlite_autoincrement=True,
    )
    op.create_index(f"ix_{TABLE}_conversation", TABLE, ["conversation_id", "id"])
    op.create_index(f"ix_{TABLE}_written_at", TABLE, ["written_at"])


def downgrade() -> None:
    op.drop_table(TABLE)
