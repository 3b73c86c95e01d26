"""Signed checkpoints: a cut-off, emptied or rewritten trail is named with nobody keeping heads,
and views verify from the last checkpoint, so their cost does not grow with the store.

The attacker here can write the database (lifts the triggers, recomputes hashes) but does not
hold the private key the writer signs with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from agentflow.audit.checkpoints import Checkpointer, SigningKey, VerifyKeys
from agentflow.audit.store import (
    CHECKPOINT_TABLE,
    TABLE,
    AuditStore,
    SpanRecord,
    chain_hash,
    create_store_engine,
)
from agentflow.cli.main import app


def span(i: int, conversation: str = "conv-busy") -> SpanRecord:
    return SpanRecord(
        trace_id=hashlib.md5(conversation.encode()).hexdigest(),
        span_id=f"{i:016x}",
        parent_span_id=None,
        name=f"step {i}",
        kind="internal",
        start_ns=i,
        end_ns=i,
        status="ok",
        attributes={"gen_ai.conversation.id": conversation, "n": i},
        events=[],
        links=[],
    )


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_store_engine(database_url)
    yield engine
    engine.dispose()


def filled(
    url: str, key: SigningKey | None, records: int, *, every: int = 10, file: Path | None = None
) -> AuditStore:
    store = AuditStore(url, checkpointer=Checkpointer(key=key, every=every, file=file))
    for start in range(0, records, 5):
        store.append([span(i) for i in range(start, min(start + 5, records))])
    return store


def lift_guards(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in (TABLE, CHECKPOINT_TABLE):
            if engine.dialect.name == "sqlite":
                connection.execute(text(f"DROP TRIGGER {table}_no_update"))
                connection.execute(text(f"DROP TRIGGER {table}_no_delete"))
            else:
                connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


def rewrite_from(engine: Engine, seq: int) -> None:
    """Change record ``seq`` and recompute the chain from it to the end: consistent again."""
    records = list(AuditStore(engine, create=False).records(after=seq - 1))
    prev = records[0].prev_hash
    with engine.begin() as connection:
        for stored in records:
            body = stored.record.body()
            if stored.seq == seq:
                body["attributes"] = body["attributes"] | {"n": "forged"}
            digest = chain_hash(body, prev)
            connection.execute(
                text(
                    f"UPDATE {TABLE} SET attributes = :a, prev_hash = :p, hash = :h WHERE seq = :s"
                ),
                {"a": json.dumps(body["attributes"]), "p": prev, "h": digest, "s": stored.seq},
            )
            prev = digest


def verify(url: str, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["audit", "verify", "--database-url", url, *options], env={"COLUMNS": "300"}
    )
    return result.exit_code, result.output


def test_checkpoints_are_written_signed_and_agree(
    database_url: str, key: SigningKey, tmp_path: Path
) -> None:
    store = filled(database_url, key, 45, file=tmp_path / "checkpoints.jsonl")
    checkpoints = store.checkpoints()
    assert [c.seq for c in checkpoints] == [10, 20, 30, 40]
    assert {c.key_id for c in checkpoints} == {key.key_id}
    assert store.verify(keys=VerifyKeys.of(key)).ok
    exported = (tmp_path / "checkpoints.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in exported] == [10, 20, 30, 40]


def test_a_rewritten_chain_is_named_by_the_signed_checkpoint(
    database_url: str, engine: Engine, key: SigningKey
) -> None:
    filled(database_url, key, 45)
    lift_guards(engine)
    rewrite_from(engine, 12)
    store = AuditStore(engine, create=False)
    # Every link holds again: only the checkpoints can tell.
    problems = store.verify(keys=VerifyKeys.of(key)).problems
    assert [(p.kind, p.seq) for p in problems] == [
        ("checkpoint", 20),
        ("checkpoint", 30),
        ("checkpoint", 40),
    ]
    assert "no longer has the hash its checkpoint signed" in problems[0].message


def test_checkpoints_forged_without_the_key_are_refused(
    database_url: str, engine: Engine, key: SigningKey
) -> None:
    filled(database_url, key, 45)
    lift_guards(engine)
    rewrite_from(engine, 12)
    with engine.begin() as connection:
        connection.execute(text(f"DELETE FROM {CHECKPOINT_TABLE} WHERE seq > 10"))
    # The attacker checkpoints the rewritten chain: with a key of their own, and unsigned.
    forger = AuditStore(engine, create=False, checkpointer=Checkpointer(key=SigningKey.generate()))
    forger.checkpoint()
    unsigned = AuditStore(engine, create=False, checkpointer=Checkpointer(key=None))
    unsigned.append([span(99)])
    unsigned.checkpoint()
    problems = AuditStore(engine, create=False).verify(keys=VerifyKeys.of(key)).problems
    messages = [p.message for p in problems]
    assert any("which is not among the verification keys" in m for m in messages)
    assert any("is not signed" in m for m in messages)
    # A signature altered by a byte is bad, too.
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE {CHECKPOINT_TABLE} SET head = :h WHERE seq = 10"), {"h": "0" * 64}
        )
    problems = AuditStore(engine, create=False).verify(keys=VerifyKeys.of(key)).problems
    assert any("checkpoint at record 10 has a bad signature" in p.message for p in problems)


def test_an_emptied_store_is_caught_by_the_exported_checkpoints(
    database_url: str, engine: Engine, key: SigningKey, tmp_path: Path
) -> None:
    exported = tmp_path / "checkpoints.jsonl"
    filled(database_url, key, 45, file=exported)
    lift_guards(engine)
    with engine.begin() as connection:  # both tables, as someone covering their tracks would
        connection.execute(text(f"DELETE FROM {TABLE} WHERE seq > 3"))
        connection.execute(text(f"DELETE FROM {CHECKPOINT_TABLE}"))
    code, output = verify(database_url)
    assert code == 0  # what is left is consistent with itself...
    public = tmp_path / "key.pub"
    public.write_bytes(key.public_pem())
    code, output = verify(database_url, "--checkpoints", str(exported), "--key", str(public))
    assert code == 1  # ...but not with the copy kept outside
    assert "the checkpoint at record 10 is past the end of the trail (record 3)" in output


def test_a_view_checks_the_same_records_however_large_the_store(
    database_url: str, key: SigningKey
) -> None:
    store = filled(database_url, key, 0, every=50)
    keys = VerifyKeys.of(key)
    for size in (100, 2_000):
        while store.verify().records < size:
            start = store.verify().records
            store.append([span(i) for i in range(start, start + 100)])
        store.append([span(9_000 + size + i, f"conv-{size}") for i in range(3)])
        shown = store.conversation(f"conv-{size}")
        view = store.verify_view(shown, keys=keys)
        assert view.ok, view.problems
        assert view.records == size + 3 + (3 if size > 100 else 0)
        # The records since the last checkpoint, and the three shown: not the store.
        assert view.checkpoint is not None and view.checked <= 50 + len(shown)


def test_a_view_names_a_shown_record_altered_before_the_checkpoint(
    database_url: str, engine: Engine, key: SigningKey
) -> None:
    store = filled(database_url, key, 45)
    lift_guards(engine)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {TABLE} SET name = 'rewritten' WHERE seq = 7"))
    view = store.verify_view(store.conversation("conv-busy"), keys=VerifyKeys.of(key))
    assert view.checkpoint == 40
    assert [(p.kind, p.seq) for p in view.problems] == [("altered", 7)]
    # Recomputing its hash moves the break to the link with the next record.
    rewrite_from(engine, 7)
    view = store.verify_view(store.conversation("conv-busy"), keys=VerifyKeys.of(key))
    assert ("checkpoint", 40) in [(p.kind, p.seq) for p in view.problems]


def test_trace_says_where_it_verified_from(database_url: str, key: SigningKey) -> None:
    store = filled(database_url, key, 45)
    store.append([span(100, "conv-small")])
    result = CliRunner().invoke(
        app, ["trace", "conv-small", "--database-url", database_url], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "chain verified from the checkpoint at record 40 (6 records checked)" in result.output
