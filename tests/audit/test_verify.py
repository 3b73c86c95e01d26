"""``agentflow audit verify`` finds an edited, deleted or reordered record, and names it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner
from typer.testing import Result as CliResult

from agentflow import ApprovalDecision, ApprovalRequest
from agentflow.audit import AuditHandler, AuditStore, configure_tracing
from agentflow.audit.store import TABLE, create_store_engine
from agentflow.cli.main import app
from tests.audit.support import MESSAGE, Bookings, travel_agent, travel_model


async def approve(request: ApprovalRequest) -> ApprovalDecision:
    return request.decide("approved", approver="bob")


@pytest.fixture
async def trail(database_url: str) -> str:
    """A store holding one audited conversation (12 records)."""
    tracing = configure_tracing(database_url=database_url, otlp=False)
    model = travel_model()
    agent = travel_agent("travel", model=model, event_handlers=[AuditHandler(tracing, model=model)])
    await agent.run(MESSAGE, deps=Bookings(), user="alice", approvals=approve)
    tracing.shutdown()
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
            connection.execute(text(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_append_only"))
        for statement in statements:
            connection.execute(text(statement))


def seq_of(engine: Engine, name: str) -> int:
    with engine.connect() as connection:
        query = text(f"SELECT seq FROM {TABLE} WHERE name = :name ORDER BY seq")
        return connection.execute(query, {"name": name}).scalars().first() or 0


def test_an_untouched_trail_verifies(trail: str) -> None:
    result = verify(trail)
    assert result.exit_code == 0, result.output
    assert "the audit trail is intact: 12 records" in result.output


def test_the_table_refuses_updates_and_deletes(engine: Engine) -> None:
    for statement in (f"UPDATE {TABLE} SET name = 'x'", f"DELETE FROM {TABLE}"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert AuditStore(engine).verify().records == 12


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


def test_a_cut_off_end_needs_the_anchor(trail: str, engine: Engine) -> None:
    head = AuditStore(engine).verify().head
    tamper(engine, f"DELETE FROM {TABLE} WHERE seq = 12")
    assert verify(trail).exit_code == 0  # nothing inside the chain is wrong...
    result = verify(trail, "--expect-head", head)
    assert result.exit_code == 1  # ...but it no longer ends where it did
    assert "the newest record's hash is" in result.output and head in result.output
