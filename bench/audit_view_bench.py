"""A conversation's view at a million records: what ``agentflow trace`` and the timeline pay.

Builds a SQLite audit store of ``BENCH_AUDIT_RECORDS`` records (1,000,000 by default) the way
the writer would have: the same hash chain, a signed checkpoint every
:data:`~agentflow.audit.checkpoints.DEFAULT_EVERY` records. It is built in bulk (one
transaction, ``executemany``) rather than through ``AuditStore.append``, which would take an
hour of round trips; the rows and hashes are what ``append`` writes, and a full
``AuditStore.verify`` of a small store built this way is checked first.

Then, for a conversation of 14 records at the end, and one of 14 records in the middle (before
the last checkpoint), it times what a view does: load the conversation's records and
``verify_view`` them. The same is timed on a store of ``BENCH_AUDIT_SMALL`` records, so the
two sizes can be compared.

Prints one JSON line: ``{"audit_view_ms": {...}, "records": ..., ...}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from agentflow.audit.checkpoints import DEFAULT_EVERY, Checkpointer, SigningKey, VerifyKeys
from agentflow.audit.store import CHECKPOINT_TABLE, GENESIS, TABLE, AuditStore, chain_hash
from agentflow.binding import canonical_json

CONVERSATION_SIZE = 14
_COLUMNS = (
    "seq, trace_id, span_id, parent_span_id, conversation_id, name, kind, start_ns, end_ns, "
    "status, status_message, attributes, events, links, service, prev_hash, hash"
)


def _body(seq: int, conversation: str) -> dict[str, Any]:
    return {
        "trace_id": hashlib.md5(conversation.encode()).hexdigest(),
        "span_id": f"{seq:016x}",
        "parent_span_id": None,
        "name": "execute_tool search_flights",
        "kind": "internal",
        "start_ns": seq * 1_000,
        "end_ns": seq * 1_000 + 500,
        "status": "unset",
        "status_message": "",
        "attributes": {
            "gen_ai.conversation.id": conversation,
            "gen_ai.tool.name": "search_flights",
            "gen_ai.tool.call.arguments": '{"destination": "Zurich"}',
        },
        "events": [],
        "links": [],
        "service": "bench",
    }


def build(path: Path, records: int, key: SigningKey) -> dict[str, str]:
    """A store of ``records`` records; returns the conversations to view (name -> where)."""
    store = AuditStore(f"sqlite:///{path}", checkpointer=Checkpointer(key=key))
    middle, end = records // 2, records - CONVERSATION_SIZE
    views = {
        "conv-middle": "in the middle",
        "conv-end": f"at the end ({DEFAULT_EVERY:,} records since the last checkpoint)",
    }
    checkpointer = Checkpointer(key=key)
    prev = GENESIS
    rows: list[tuple[Any, ...]] = []
    checkpoints: list[tuple[Any, ...]] = []
    with store.engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        for seq in range(1, records + 1):
            if middle < seq <= middle + CONVERSATION_SIZE:
                conversation = "conv-middle"
            elif seq > end:
                conversation = "conv-end"
            else:
                conversation = f"conv-{seq // CONVERSATION_SIZE}"
            body = _body(seq, conversation)
            digest = chain_hash(body, prev)
            rows.append(
                (
                    seq,
                    body["trace_id"],
                    body["span_id"],
                    None,
                    conversation,
                    body["name"],
                    body["kind"],
                    body["start_ns"],
                    body["end_ns"],
                    body["status"],
                    "",
                    canonical_json(body["attributes"]),
                    "[]",
                    "[]",
                    "bench",
                    prev,
                    digest,
                )
            )
            prev = digest
            # None at the very end: the newest conversation's view then walks the whole
            # interval since the last checkpoint, its worst case.
            if seq % DEFAULT_EVERY == 0 and seq < records:
                c = checkpointer.make(seq, digest)
                checkpoints.append((c.seq, c.head, c.at_ns, c.key_id, c.algorithm, c.signature))
            if len(rows) == 50_000:
                raw.executemany(f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES ({'?, ' * 16}?)", rows)
                rows.clear()
        if rows:
            raw.executemany(f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES ({'?, ' * 16}?)", rows)
        raw.executemany(
            f"INSERT INTO {CHECKPOINT_TABLE} (seq, head, at_ns, key_id, algorithm, signature) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            checkpoints,
        )
    with store.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
    store.dispose()
    return views


def view_ms(store: AuditStore, conversation: str, keys: VerifyKeys, repeats: int) -> float:
    """Median milliseconds to load a conversation and verify it as a view does."""
    times: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        shown = store.conversation(conversation)
        verification = store.verify_view(shown, keys=keys)
        times.append(time.perf_counter() - started)
        assert verification.ok and len(shown) == CONVERSATION_SIZE, verification.problems
    return statistics.median(times) * 1_000


def main() -> None:
    records = int(os.environ.get("BENCH_AUDIT_RECORDS", "1000000"))
    small = int(os.environ.get("BENCH_AUDIT_SMALL", "20000"))
    repeats = int(os.environ.get("BENCH_AUDIT_REPEATS", "20"))
    key = SigningKey.generate()
    keys = VerifyKeys.of(key)
    result: dict[str, Any] = {"audit_view_ms": {}, "records": records, "repeats": repeats}
    with tempfile.TemporaryDirectory() as folder:
        check = Path(folder) / "check.db"
        build(check, 3 * DEFAULT_EVERY // 2, key)
        assert AuditStore.existing(f"sqlite:///{check}").verify(keys=keys).ok
        for size in (small, records):
            path = Path(folder) / f"audit-{size}.db"
            started = time.perf_counter()
            views = build(path, size, key)
            built = time.perf_counter() - started
            store = AuditStore.existing(f"sqlite:///{path}")
            for conversation, where in views.items():
                label = f"{size:,} records, conversation {where}"
                median = view_ms(store, conversation, keys, repeats)
                result["audit_view_ms"][label] = round(median, 2)
            result.setdefault("build_s", {})[f"{size:,} records"] = round(built, 1)
            store.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
