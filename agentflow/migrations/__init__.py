"""agentflow's database schema as Alembic migrations, run from code when a store is opened.

This package is an Alembic script directory (``env.py``, ``versions/``) holding three branches,
recorded in one version table, ``agentflow_alembic_version``::

    approvals   the org chart, the approval ledger, Slack posts   (DATABASE_URL)
    audit       the audit trail and its append-only triggers      (the audit store's URL)
    live        model calls' text as it is written                (DATABASE_URL; see
                agentflow.temporal.live)

`upgrade` brings a database to the revision the code was written against, under a lock
so that processes starting together migrate once; a database already there costs one query.
[`agentflow.approvals.create_tables`][] runs the ``approvals`` branch, and opening an
[`AuditStore`][agentflow.audit.AuditStore] the ``audit`` branch: the table, its indexes and triggers
are written in these revisions only. The first revision of each branch is the schema agentflow
made with ``create_all`` before it had migrations, and adopts such a database with its rows: it
creates only what is missing.

An application keeps its own tables in a script directory of its own, with its own version
table, and runs it the same way (see ``examples/travel/migrations``).

To change the schema: add a revision under ``versions/`` whose ``down_revision`` is the branch's
head (SQLite needs ``op.batch_alter_table`` to alter a table), then name it as the head of
`APPROVALS`, `AUDIT` or `LIVE`. ``tests/approvals/test_migrations.py`` checks that the
head is the newest revision and that the migrated schema is what the models declare, on SQLite
and on PostgreSQL.
"""

from agentflow.extras import require

require("audit", "agentflow.migrations")  # a missing extra is one line naming it

from agentflow.migrations.runner import (
    APPROVALS,
    AUDIT,
    LIVE,
    VERSION_TABLE,
    Migrations,
    upgrade,
)

__all__ = ["APPROVALS", "AUDIT", "LIVE", "VERSION_TABLE", "Migrations", "upgrade"]
