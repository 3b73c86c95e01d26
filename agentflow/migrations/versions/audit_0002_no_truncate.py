"""The audit trail refuses TRUNCATE on PostgreSQL (a row trigger never fires on it).

SQLite has no TRUNCATE: its ``DELETE FROM`` fires the row trigger of ``audit_0001``.

Revision ID: audit_0002
Revises: audit_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "audit_0002"
down_revision: str | None = "audit_0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

TABLE = "agentflow_audit_record"
TRIGGER = f"{TABLE}_no_truncate"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    exists = bind.execute(
        sa.text(
            "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = :name AND c.oid = to_regclass(:table)"
        ),
        {"name": TRIGGER, "table": TABLE},
    ).first()
    if exists is None:
        op.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE TRUNCATE ON {TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}")
