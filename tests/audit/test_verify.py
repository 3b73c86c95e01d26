"""``agentflow audit verify`` finds an edited, deleted, moved or reordered record, and names it.

An anchor (``--expect-head``) vouches for the records up to it while the trail keeps growing;
an empty trail, or no store at all, is reported as such and never passes unless allowed; and
verifying never creates a store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner
from typer.testing import Result as CliResult

from agentflow.audit import AuditStore
from agentflow.audit.store import TABLE, create_store_engine
from agentflow.cli.main import app
from tests.audit.support import converse


@pytest.fixture
async def trail(database_url: str) -> str:
    """A store holding one audited conversation (14 records)."""
    await converse(database_url)
    return database_url


@pytest.fixture
def engine(trail: str) -> Iterator[Engine]:
    engine = create_store_engine(trail)
    yield engine
    engine.dispose()


def verify(url: str, *options: str) -> CliResult:
    return CliRunner().invoke(
        app, ["audit", "verify", "--database-url", url, *options], env={"COLUMNS": "300"}
    )


def tamper(engine: Engine, *statements: str) -> None:
    """What someone with write access to the database could do: lift the guard, then write."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text(f"DROP TRIGGER {TABLE}_no_update"))
            connection.execute(text(f"DROP TRIGGER {TABLE}_no_delete"))
        else:
            connection.execute(text(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER"))
        for statement in statements:
            connection.execute(text(statement))


def seq_of(engine: Engine, name: str) -> int:
    with engine.connect() as connection:
        query = text(f"SELECT seq FROM {TABLE} WHERE name = :name ORDER BY seq")
        return connection.execute(query, {"name": name}).scalars().first() or 0


def test_an_untouched_trail_verifies(trail: str) -> None:
    result = verify(trail)
    assert result.exit_code == 0, result.output
    assert "the audit trail is intact: 14 records" in result.output


def test_the_table_refuses_updates_and_deletes(engine: Engine) -> None:
    for statement in (f"UPDATE {TABLE} SET name = 'x'", f"DELETE FROM {TABLE}"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert AuditStore(engine).verify().records == 14


def test_an_edited_record_is_named(trail: str, engine: Engine) -> None:
    seq = seq_of(engine, "approval decided")
    forged = (
        f"UPDATE {TABLE} SET attributes = REPLACE(attributes, 'bob', 'carol') WHERE seq = {seq}"
    )
    tamper(engine, forged)
    result = verify(trail)
    assert result.exit_code == 1
    assert f"altered: record {seq} changed after it was written ('approval decided'" in (
        result.output
    )
    assert result.output.count("altered:") == 1


def test_a_deleted_record_is_named(trail: str, engine: Engine) -> None:
    seq = seq_of(engine, "approval requested")
    tamper(engine, f"DELETE FROM {TABLE} WHERE seq = {seq}")
    result = verify(trail)
    assert result.exit_code == 1
    assert (
        f"deleted: record {seq} is missing; the chain resumes at record {seq + 1}" in result.output
    )


def test_reordered_records_are_named(trail: str, engine: Engine) -> None:
    first = seq_of(engine, "approval requested")
    second = first + 1
    tamper(
        engine,
        f"UPDATE {TABLE} SET seq = -1 WHERE seq = {first}",
        f"UPDATE {TABLE} SET seq = {first} WHERE seq = {second}",
        f"UPDATE {TABLE} SET seq = {second} WHERE seq = -1",
    )
    result = verify(trail)
    assert result.exit_code == 1
    moved = f"reordered: record {first} is out of order: it was chained after the record now at"
    assert f"{moved} {second}" in result.output
    assert "altered:" not in result.output


def test_a_cut_off_end_is_caught_by_the_checkpoint_and_the_anchor(
    trail: str, engine: Engine
) -> None:
    head = AuditStore(engine).verify().head
    tamper(engine, f"DELETE FROM {TABLE} WHERE seq = 14")
    # Nothing inside the chain is wrong, but the checkpoint the writer left at its end is past it.
    unanchored = verify(trail)
    assert unanchored.exit_code == 1
    assert (
        "checkpoint: the checkpoint at record 14 is past the end of the trail (record 13)"
        in unanchored.output
    )
    result = verify(trail, "--expect-head", head)
    assert result.exit_code == 1  # ...but the record the anchor names is gone
    assert f"anchor: the anchor {head} is not in the chain, which ends at record 13" in (
        result.output
    )


async def test_an_anchor_holds_while_the_trail_grows(trail: str) -> None:
    """The nightly check of docs/deployment.md: verify against the last head, keep the new one."""
    first = json.loads(verify(trail, "--json").output)
    assert (first["ok"], first["records"], first["anchor"]) == (True, 14, None)
    await converse(trail)  # a day of honest appends
    result = verify(trail, "--expect-head", first["head"], "--json")
    assert result.exit_code == 0, result.output
    second = json.loads(result.output)
    assert (second["records"], second["anchor"]) == (28, 14)
    assert second["head"] != first["head"]
    await converse(trail)
    result = verify(trail, "--expect-head", second["head"])
    assert result.exit_code == 0, result.output
    assert "intact: 42 records" in result.output and "the anchor is record 28" in result.output


async def test_an_anchor_catches_a_tail_cut_and_written_again(trail: str, engine: Engine) -> None:
    """Records after the anchor replaced by others: the chain is whole, the anchor is not in it."""
    head = AuditStore(engine).verify().head
    tamper(engine, f"DELETE FROM {TABLE} WHERE seq >= 6")
    await converse(trail)  # chains on record 5, as if nothing had been there
    rewritten = verify(trail)
    assert rewritten.exit_code == 1
    assert "record 14 no longer has the hash its checkpoint signed" in rewritten.output
    result = verify(trail, "--expect-head", head)
    assert result.exit_code == 1 and "anchor: the anchor" in result.output


def test_a_record_moved_to_another_conversation_is_named(trail: str, engine: Engine) -> None:
    """The look-up column is not hashed, but derived from what is: moving it is caught."""
    with engine.connect() as connection:
        (conversation,) = connection.execute(
            text(f"SELECT DISTINCT conversation_id FROM {TABLE} WHERE conversation_id IS NOT NULL")
        ).scalars()
        moved = connection.execute(
            text(f"SELECT COUNT(*) FROM {TABLE} WHERE conversation_id = :c"), {"c": conversation}
        ).scalar_one()
    ours = f"conversation_id = '{conversation}'"
    tamper(engine, f"UPDATE {TABLE} SET conversation_id = 'elsewhere' WHERE {ours}")
    hidden = CliRunner().invoke(app, ["trace", conversation, "--database-url", trail])
    assert hidden.exit_code == 1  # the views no longer find it...
    result = verify(trail)
    assert result.exit_code == 1  # ...and the chain says why
    assert result.output.count("moved:") == moved > 0
    assert (
        f"is filed under conversation 'elsewhere' but was recorded in '{conversation}'"
    ) in result.output
    assert "altered:" not in result.output


def test_an_empty_trail_is_reported_and_fails_unless_allowed(database_url: str) -> None:
    AuditStore(database_url).dispose()  # the table, and nothing in it
    result = verify(database_url)
    assert result.exit_code == 1
    assert "the audit trail is empty" in result.output
    assert verify(database_url, "--allow-empty").exit_code == 0
    anchored = verify(database_url, "--allow-empty", "--expect-head", "ab" * 32)
    assert anchored.exit_code == 1 and "anchor: the anchor" in anchored.output


def test_truncate_is_refused_and_an_emptied_table_is_caught(trail: str, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE FROM is refused by the delete trigger")
    head = AuditStore(engine).verify().head
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLE}"))
    assert AuditStore(engine).verify().records == 14
    tamper(engine, f"TRUNCATE {TABLE}")  # by someone who may lift the guard
    result = verify(trail, "--expect-head", head)
    assert result.exit_code == 1
    assert "the audit trail is empty" in result.output and "anchor: the anchor" in result.output


def test_a_store_made_before_the_truncate_guard_gets_it(trail: str, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL trigger")
    with engine.begin() as connection:  # as the first audit revision left it
        connection.execute(text(f"DROP TRIGGER {TABLE}_no_truncate ON {TABLE}"))
        connection.execute(text("DROP TABLE agentflow_audit_checkpoint"))
        connection.execute(
            text(
                "UPDATE agentflow_alembic_version SET version_num = 'audit_0001' "
                "WHERE version_num LIKE 'audit_%'"
            )
        )
    AuditStore(engine)  # any process opening the store, as the table's owner
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLE}"))


def test_no_store_is_reported_as_such_and_nothing_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`agentflow audit verify` in an empty folder: the store it would read is not there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["audit", "verify"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "no audit store at sqlite:///.agentflow/audit.db" in result.output
    assert "intact" not in result.output
    allowed = CliRunner().invoke(app, ["audit", "verify", "--allow-empty"])
    assert allowed.exit_code == 0, allowed.output
    traced = CliRunner().invoke(app, ["trace", "conv-1"])
    assert traced.exit_code == 1 and "no audit store" in traced.output
    assert list(tmp_path.iterdir()) == []


def test_a_database_without_the_audit_table_is_no_store(database_url: str) -> None:
    engine = create_store_engine(database_url)
    with engine.begin() as connection:  # the database exists, the table does not
        connection.execute(text("CREATE TABLE something_else (id INTEGER)"))
    for options in ((), ("--allow-empty",)):
        result = verify(database_url, *options)
        assert f"it has no {TABLE} table" in result.output
        assert result.exit_code == (0 if options else 1)
    with engine.connect() as connection:
        assert TABLE not in inspect(connection).get_table_names()
    engine.dispose()
