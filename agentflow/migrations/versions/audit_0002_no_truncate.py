"""The audit trail refuses TRUNCATE on PostgreSQL (a row trigger never fires on it).

SQLite has no TRUNCATE: its ``DELETE FROM`` fires the row trigger of ``audit_0001``.

Processes are meant to run with a role that does not own the table (its owner could drop the
triggers). Such a role may not add a trigger: the upgrade then goes on without it and says how to
add it; the hash chain and ``agentflow audit verify`` catch an emptied table either way.

Revision ID: audit_0002
Revises: audit_0001
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "audit_0002"
down_revision: str | None = "audit_0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

TABLE = "agentflow_audit_record"
TRIGGER = f"{TABLE}_no_truncate"
_INSUFFICIENT_PRIVILEGE = "42501"

log = logging.getLogger("agentflow.audit")


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
    if exists is not None:
        return
    try:
        with bind.begin_nested():
            bind.execute(
                sa.text(
                    f"CREATE TRIGGER {TRIGGER} BEFORE TRUNCATE ON {TABLE} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()"
                )
            )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
            raise
        log.warning(
            "the audit table %s has no trigger refusing TRUNCATE, and this role may not add "
            "one: run the audit migrations once as the table's owner",
            TABLE,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}")
