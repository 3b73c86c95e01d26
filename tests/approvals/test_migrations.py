"""The schema under migrations: what they make, what they adopt, on SQLite and PostgreSQL.

Three histories: agentflow's ``approvals`` and ``audit`` branches (``agentflow/migrations``)
and the travel app's (``examples/travel/migrations``). Each is checked against what its models
declare, and against a database made the way agentflow made them before migrations
(``create_all`` and the audit store's trigger DDL), whose rows must survive the upgrade.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, Table, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from agentflow import ConfigurationError
from agentflow.approvals import OrgChart, create_tables
from agentflow.approvals.tables import (
    TABLES,
    ApprovalCall,
    ApprovalLimit,
    ApprovalRecord,
    Employee,
    Leave,
    SlackPost,
)
from agentflow.audit.store import CHECKPOINT_TABLE, AuditRow, AuditStore, CheckpointRow, SpanRecord
from agentflow.audit.store import TABLE as AUDIT_TABLE
from agentflow.migrations import APPROVALS, AUDIT, LIVE, upgrade
from agentflow.migrations.runner import applied
from examples.travel.company import EmployeeProfile, PolicyRecord
from examples.travel.seed import CompanySeed
from examples.travel.store import MIGRATIONS as TRAVEL
from examples.travel.store import ONE_ACTIVE_BOOKING_PER_OFFER, Booking, prepare_store
from tests.databases import engine_for

APPROVAL_TABLES = tuple(str(model.__tablename__) for model in TABLES)
TRAVEL_TABLES = ("booking", "travel_employee_profile", "travel_policy", "travel_company_seed")
EVERY_TABLE = (*APPROVAL_TABLES, *TRAVEL_TABLES, AUDIT_TABLE)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """Fresh databases of one backend, as many as the test asks for."""
    with ExitStack() as stack:
        made = 0

        def fresh() -> Engine:
            nonlocal made
            made += 1
            database = contextmanager(engine_for)(
                request.param, tmp_path / f"db{made}.db", "agentflow_migrations"
            )
            return stack.enter_context(database)

        yield fresh


def migrate(engine: Engine) -> Engine:
    """Every history, as the processes run them: the travel app's store, the audit store's."""
    prepare_store(engine)  # agentflow's approvals branch, then the travel app's migrations
    upgrade(engine, AUDIT)
    return engine


def made_by_create_all(engine: Engine) -> Engine:
    """The schema as it was made before migrations: ``create_all``, then the audit store's DDL."""
    SQLModel.metadata.create_all(
        engine, tables=[SQLModel.metadata.tables[name] for name in APPROVAL_TABLES + TRAVEL_TABLES]
    )
    audit = AuditRow.__table__  # pyright: ignore[reportAttributeAccessIssue]
    assert isinstance(audit, Table)
    audit.create(engine)
    with engine.begin() as connection:
        for statement in _LEGACY_AUDIT_TRIGGERS[engine.dialect.name]:
            connection.execute(text(statement))
    return engine


# What the audit store itself ran when it opened, before it had migrations (kept here as the
# record of databases in the field).
_LEGACY_AUDIT_TRIGGERS = {
    "sqlite": (
        f"CREATE TRIGGER {AUDIT_TABLE}_no_update BEFORE UPDATE ON {AUDIT_TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
        f"CREATE TRIGGER {AUDIT_TABLE}_no_delete BEFORE DELETE ON {AUDIT_TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    ),
    "postgresql": (
        f"CREATE OR REPLACE FUNCTION {AUDIT_TABLE}_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$ LANGUAGE plpgsql",
        f"CREATE TRIGGER {AUDIT_TABLE}_append_only BEFORE UPDATE OR DELETE ON {AUDIT_TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION {AUDIT_TABLE}_append_only()",
        f"CREATE TRIGGER {AUDIT_TABLE}_no_truncate BEFORE TRUNCATE ON {AUDIT_TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {AUDIT_TABLE}_append_only()",
    ),
}


def schema(engine: Engine) -> set[tuple[str, ...]]:
    """Everything the database says about its schema, the version tables left out.

    SQLite: the DDL of every table, index and trigger. PostgreSQL: columns, constraints,
    indexes, triggers and functions, as the catalog prints them.
    """
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master"))
            found = {
                (kind, name, table, " ".join((sql or "").split()))
                for kind, name, table, sql in rows
            }
        else:
            current = connection.scalar(text("SELECT current_schema()"))
            found = {
                tuple(str(value).replace(f"{current}.", "") for value in row)
                for query in _POSTGRES_CATALOG
                for row in connection.execute(text(query))
            }
    return {row for row in found if not row[2].endswith("alembic_version")}


_POSTGRES_CATALOG = (
    "SELECT 'column', column_name, table_name, data_type,"
    " coalesce(character_maximum_length::text, ''), is_nullable, coalesce(column_default, '')"
    " FROM information_schema.columns WHERE table_schema = current_schema()",
    "SELECT 'constraint', co.conname, cl.relname, pg_get_constraintdef(co.oid)"
    " FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid"
    " WHERE cl.relnamespace = current_schema()::regnamespace",
    "SELECT 'index', indexname, tablename, indexdef FROM pg_indexes"
    " WHERE schemaname = current_schema()",
    "SELECT 'trigger', t.tgname, cl.relname, pg_get_triggerdef(t.oid)"
    " FROM pg_trigger t JOIN pg_class cl ON cl.oid = t.tgrelid"
    " WHERE NOT t.tgisinternal AND cl.relnamespace = current_schema()::regnamespace",
    "SELECT 'function', p.proname, '', p.prosrc FROM pg_proc p"
    " WHERE p.pronamespace = current_schema()::regnamespace",
)


def model_metadata() -> MetaData:
    metadata = MetaData()
    for name in APPROVAL_TABLES + TRAVEL_TABLES:
        SQLModel.metadata.tables[name].to_metadata(metadata)
    for model in (AuditRow, CheckpointRow):
        table = model.__table__  # pyright: ignore[reportAttributeAccessIssue]
        assert isinstance(table, Table)
        table.to_metadata(metadata)
    return metadata


def differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate would change to make the database match the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": lambda name, kind, _: (
                    kind != "table" or not str(name).endswith("alembic_version")
                ),
            },
        )
        return list(compare_metadata(context, model_metadata()))


def rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {
            table: [
                tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
            ]
            for table in EVERY_TABLE
        }


def fill(engine: Engine) -> None:
    """A row or two in every table, as the code before migrations wrote them."""
    approval = "conv-1/approval/call-1"
    with Session(engine) as session:
        session.add(Employee(id="bob", name="Bob Meier", level="manager"))
        session.commit()
        session.add_all(
            [
                Employee(id="alice", name="Alice Keller", manager_id="bob", slack_user_id="U0A"),
                ApprovalLimit(level="manager", max_amount=2_500),
                Leave(employee_id="bob", delegate_id="alice", starts=NOW, ends=NOW),
                ApprovalRecord(
                    approval_id=approval,
                    conversation_id="conv-1",
                    tool="book_flight",
                    tool_call_id="call-1",
                    digest="d" * 64,
                    requester="alice",
                    requested_at=NOW,
                ),
                ApprovalCall(
                    approval_id=approval,
                    role="proposed",
                    tool="book_flight",
                    digest="d" * 64,
                    arguments="{}",
                    recorded_at=NOW,
                ),
                SlackPost(
                    approval_id=approval, kind="request", recipient="bob", channel="D1", ts="1.2"
                ),
                Booking(
                    idempotency_key="conv-1:call-1",
                    employee="alice",
                    offer_id="LX318-2026-12-16-B",
                    flight="LX318",
                    departure="2026-12-16T07:00",
                    cabin="economy",
                    price=640.1,
                    approved_by="bob",
                ),
                EmployeeProfile(
                    employee_id="alice",
                    home_airport="ZRH",
                    office="Zurich",
                    department="Engineering",
                    cost_centre="ENG-ZRH",
                ),
                PolicyRecord(version="travel-policy:1", parameters="{}", effective_from=NOW),
                CompanySeed(seed=1, employees=2),
            ]
        )
        session.commit()
    AuditStore(engine, create=False).append([a_span()])  # as written before migrations


def a_span() -> SpanRecord:
    return SpanRecord(
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id=None,
        name="book_flight",
        kind="INTERNAL",
        start_ns=1,
        end_ns=2,
        status="OK",
        attributes={"gen_ai.conversation.id": "conv-1"},
        events=[],
        links=[],
    )


# -- the histories ------------------------------------------------------------------------------


def test_the_heads_named_in_code_are_the_newest_revisions() -> None:
    for directory, named in (
        (APPROVALS.directory, {APPROVALS.head, AUDIT.head, LIVE.head}),
        (TRAVEL.directory, {TRAVEL.head}),
    ):
        heads = set(ScriptDirectory(str(directory)).get_heads())
        assert heads == named, f"a new revision must be named as its branch's head: {heads}"


# -- an empty database --------------------------------------------------------------------------


def test_an_empty_database_gets_what_the_models_declare(databases: Callable[[], Engine]) -> None:
    engine = migrate(databases())
    assert differences(engine) == []
    # Tables, indexes (the partial one too) and triggers, exactly as create_all and the audit
    # store's DDL made them; and the checkpoints, which came after.
    legacy = schema(made_by_create_all(databases()))
    assert {row for row in schema(engine) if row[2] != CHECKPOINT_TABLE} == legacy
    assert applied(engine, APPROVALS) == {APPROVALS.head, AUDIT.head}
    assert applied(engine, TRAVEL) == {TRAVEL.head}


def test_downgrading_to_nothing_and_back_gives_the_same_schema(
    databases: Callable[[], Engine],
) -> None:
    engine = migrate(databases())
    before = schema(engine)
    for migrations, base in (
        (TRAVEL, "base"),
        (APPROVALS, "approvals@base"),
        (AUDIT, "audit@base"),
    ):
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(migrations.directory))
            config.attributes.update(connection=connection, version_table=migrations.version_table)
            command.downgrade(config, base)
    assert schema(engine) == set()
    assert schema(migrate(engine)) == before


# -- a database made before migrations ------------------------------------------------------------


def test_a_database_made_by_create_all_is_adopted_with_its_rows(
    databases: Callable[[], Engine],
) -> None:
    engine = made_by_create_all(databases())
    fill(engine)
    before = rows(engine)
    assert all(before.values())
    migrate(engine)
    assert rows(engine) == before
    assert schema(engine) == schema(migrate(databases()))
    assert applied(engine, APPROVALS) == {APPROVALS.head, AUDIT.head}
    assert OrgChart(engine).approver_chain("alice", 1_000) == ("bob",)
    assert AuditStore(engine).verify().ok
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(f"UPDATE {AUDIT_TABLE} SET name = 'rewritten'"))


def test_a_database_with_tables_missing_gets_them(databases: Callable[[], Engine]) -> None:
    engine = databases()
    SQLModel.metadata.create_all(engine, tables=[SQLModel.metadata.tables["agentflow_employee"]])
    with Session(engine) as session:
        session.add(Employee(id="erin", name="Erin Okafor", level="vp"))
        session.commit()
    create_tables(engine)
    reference = databases()
    create_tables(reference)
    assert schema(engine) == schema(reference)
    assert OrgChart(engine).employee("erin") is not None


def test_duplicate_bookings_stop_the_upgrade_and_change_nothing(
    databases: Callable[[], Engine],
) -> None:
    engine = databases()
    # Bookings made before the one-active-booking index existed.
    tables = [SQLModel.metadata.tables[name] for name in (*APPROVAL_TABLES, "booking")]
    SQLModel.metadata.create_all(engine, tables=tables)
    ONE_ACTIVE_BOOKING_PER_OFFER.drop(engine)
    with engine.begin() as connection:
        for key in ("legacy:1", "legacy:2"):
            connection.execute(
                text(
                    "INSERT INTO booking (idempotency_key, employee, offer_id, flight, departure,"
                    " cabin, price, status) VALUES (:key, 'alice', 'LX318-2026-12-16-B', 'LX318',"
                    " '2026-12-16T07:00', 'economy', 640.1, 'booked')"
                ),
                {"key": key},
            )
    before = schema(engine)
    with pytest.raises(RuntimeError, match="alice LX318-2026-12-16-B \\(2 rows\\)"):
        prepare_store(engine)
    assert schema(engine) == before  # the travel migration left no table or index behind
    assert applied(engine, TRAVEL) == frozenset()


# -- several processes, several versions ---------------------------------------------------------


def test_processes_starting_together_migrate_once(databases: Callable[[], Engine]) -> None:
    engine = databases()
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def start_a_process() -> None:
        start.wait()
        try:
            migrate(engine)
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=start_a_process) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert differences(engine) == []
    with engine.connect() as connection:
        recorded = connection.execute(text("SELECT count(*) FROM agentflow_alembic_version"))
        assert recorded.scalar() == 2


def test_threads_migrating_databases_of_their_own_do_not_mix_their_steps(
    databases: Callable[[], Engine],
) -> None:
    engines = [databases() for _ in range(4)]
    failures: list[BaseException] = []

    def open_store(engine: Engine) -> None:
        try:
            migrate(engine)
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=open_store, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert all(differences(engine) == [] for engine in engines)


def test_opening_the_audit_store_runs_its_migrations(databases: Callable[[], Engine]) -> None:
    """The store's table and triggers come from the audit branch alone, recorded as applied."""
    engine = databases()
    store = AuditStore(engine)
    assert applied(engine, AUDIT) == {AUDIT.head}
    reference = databases()
    upgrade(reference, AUDIT)
    assert schema(engine) == schema(reference)
    store.append([a_span()])
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(f"DELETE FROM {AUDIT_TABLE}"))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {AUDIT_TABLE}"))
    store.dispose()


def test_an_audit_store_migrated_by_a_newer_version_is_refused_by_name(
    databases: Callable[[], Engine],
) -> None:
    engine = databases()
    AuditStore(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE agentflow_alembic_version SET version_num = 'audit_0099'"))
    with pytest.raises(ConfigurationError, match=r"agentflow_alembic_version.*audit_0099"):
        AuditStore(engine)


def test_a_database_migrated_by_a_newer_version_is_refused_by_name(
    databases: Callable[[], Engine],
) -> None:
    engine = databases()
    create_tables(engine)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE agentflow_alembic_version SET version_num = 'approvals_0099'")
        )
    with pytest.raises(ConfigurationError, match=r"agentflow_alembic_version.*approvals_0099"):
        create_tables(engine)
