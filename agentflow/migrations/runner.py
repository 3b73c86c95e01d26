"""Running a script directory's migrations from code: a cheap check, then Alembic under a lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, column, inspect, select, table, text

from agentflow.exceptions import ConfigurationError

VERSION_TABLE = "agentflow_alembic_version"
"""Where agentflow's own branches are recorded: not ``alembic_version``, which is the app's."""

_LOCK_KEY = 0x6167_6D69_6772  # "agmigr": the PostgreSQL advisory lock migrations run under
_one_at_a_time = threading.Lock()


@dataclass(frozen=True, kw_only=True)
class Migrations:
    """One schema history: its Alembic script directory, where it is recorded, its head."""

    directory: Path
    """The script directory (``env.py`` calling `run_environment`, ``versions/``)."""
    head: str
    """The revision this code was written against: the newest of its branch."""
    version_table: str = VERSION_TABLE


APPROVALS = Migrations(directory=Path(__file__).parent, head="approvals_0001")
AUDIT = Migrations(directory=Path(__file__).parent, head="audit_0003")
LIVE = Migrations(directory=Path(__file__).parent, head="live_0001")


def upgrade(engine: Engine, migrations: Migrations) -> None:
    """Bring ``engine``'s database to ``migrations.head``.

    Processes that start together wait for each other (an advisory lock on PostgreSQL, a write
    transaction on SQLite), and then find the work done; so do threads.

    Raises:
        ConfigurationError: The database records a revision this code does not know (a newer
            version migrated it).
    """
    if migrations.head in applied(engine, migrations):
        return
    # Alembic's ``op`` and ``context`` are process-wide proxies: two migrations at once in one
    # process, even of two databases, would run each other's steps.
    with _one_at_a_time, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        elif connection.dialect.name == "sqlite":
            # pysqlite leaves DDL outside transactions: take the write lock, and undo it all
            # if a step fails.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        _run_alembic(connection, migrations)


def applied(engine: Engine, migrations: Migrations) -> frozenset[str]:
    """The revisions ``migrations.version_table`` records: one per branch applied."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(migrations.version_table):
            return frozenset()
        versions = table(migrations.version_table, column("version_num"))
        return frozenset(connection.scalars(select(versions.c.version_num)))


def _run_alembic(connection: Connection, migrations: Migrations) -> None:
    # Imported here: a database already at its head never needs Alembic, whose import costs
    # more than the check above.
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(migrations.directory).replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = migrations.version_table
    try:
        command.upgrade(config, migrations.head)
    except CommandError as exc:
        raise ConfigurationError(
            f"cannot bring the database's {migrations.version_table} to {migrations.head}: "
            f"{exc} (was it migrated by a newer version?)"
        ) from None


def run_environment() -> None:
    """What a script directory's ``env.py`` runs: its revisions, on the connection handed over."""
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise ConfigurationError(
            "these migrations run through agentflow.migrations.upgrade(engine, migrations), "
            "which hands Alembic its connection"
        )
    context.configure(
        connection=connection,
        version_table=config.attributes["version_table"],
        render_as_batch=True,  # SQLite alters a table by copying it
    )
    with context.begin_transaction():
        context.run_migrations()
