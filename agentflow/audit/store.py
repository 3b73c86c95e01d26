"""The audit store: every span as an append-only row, each chained to the one before by hash.

An audit trail is only worth something if an auditor can tell it has not been doctored. Each
row carries ``hash = SHA-256(canonical JSON of {"prev": previous row's hash, "record": the
span})``, the first row chaining to :data:`GENESIS`. Editing a row breaks its own hash; deleting
one leaves a gap in the sequence and a dangling link; moving rows breaks the links around them.
:meth:`AuditStore.verify` walks the chain and names every such record.

Every column a view looks records up by is covered by the hash or derived from what it covers:
``trace_id`` is part of the hashed record, and ``conversation_id`` is the record's
``gen_ai.conversation.id`` attribute, which :meth:`~AuditStore.verify` derives again and
compares, so a record moved to another conversation (hidden from ``agentflow trace`` and the
timeline) is named.

Rewriting the chain from some row to the end, cutting rows off the end, or emptying the table
needs an anchor from outside: keep the head hash :meth:`~AuditStore.verify` reports, and pass it
back as ``expect_head`` next time. An anchor says "the records up to here are unchanged": the
chain must still hold that hash, and verify up to it, however many records were appended since.
An empty trail is a problem unless the caller says it may be empty.

The database refuses ``UPDATE`` and ``DELETE`` on the table by trigger (and ``TRUNCATE`` on
PostgreSQL), so honest code cannot change the trail by mistake; the hash chain is what catches
everyone else.

SQLite by default, PostgreSQL by URL (``postgresql://`` uses psycopg 3). Writers serialise on
the chain's head: a PostgreSQL advisory lock, and on SQLite the sequence number's primary key
with a retry.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import BigInteger, Engine, Text, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from agentflow.audit.attributes import CONVERSATION_ID
from agentflow.binding import canonical_json
from agentflow.exceptions import ConfigurationError
from agentflow.migrations import AUDIT, upgrade

GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""

TABLE = "agentflow_audit_record"
_LOCK_KEY = 0x6167_666C_6F77  # "agflow": the advisory lock that serialises appends
_ATTEMPTS = 8


@dataclass(frozen=True, kw_only=True)
class SpanRecord:
    """One finished span, as the store keeps it and the hash covers it."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str = ""
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    service: str = ""

    @property
    def conversation_id(self) -> str | None:
        value = self.attributes.get(CONVERSATION_ID)
        return value if isinstance(value, str) else None

    def body(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "kind": self.kind,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "status": self.status,
            "status_message": self.status_message,
            "attributes": self.attributes,
            "events": self.events,
            "links": self.links,
            "service": self.service,
        }


@dataclass(frozen=True, kw_only=True)
class StoredRecord:
    seq: int
    record: SpanRecord
    prev_hash: str
    hash: str
    conversation_id: str | None = None
    """The conversation the row is filed under (its look-up column), as stored."""


def chain_hash(body: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of the record and the previous record's hash."""
    return hashlib.sha256(canonical_json({"prev": prev_hash, "record": body}).encode()).hexdigest()


ProblemKind = Literal["altered", "deleted", "reordered", "unchained", "moved", "anchor", "empty"]


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A record the chain does not vouch for."""

    seq: int
    kind: ProblemKind
    message: str
    span_id: str = ""
    name: str = ""


@dataclass(frozen=True, kw_only=True)
class Verification:
    ok: bool
    records: int
    head: str
    """The hash of the newest record: keep it somewhere else, and pass it back as the anchor of
    the next verification to detect a rewritten, cut-off or emptied trail."""
    problems: tuple[Problem, ...]
    anchor: int | None = None
    """Where the anchor (``expect_head``) is in the chain: the records up to it are unchanged.
    ``None`` when no anchor was given, or when it is missing (then a problem says so)."""


_audit_registry = registry()


class _AuditModel(SQLModel, registry=_audit_registry):
    """Audit tables live in their own metadata: an app's ``create_all`` never touches them."""


class AuditRow(_AuditModel, table=True):
    __tablename__ = TABLE  # pyright: ignore[reportAssignmentType, reportIncompatibleVariableOverride]

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    trace_id: str = Field(index=True, max_length=32)
    span_id: str = Field(max_length=16)
    parent_span_id: str | None = Field(default=None, max_length=16)
    conversation_id: str | None = Field(default=None, index=True)
    name: str
    kind: str
    start_ns: int = Field(sa_type=BigInteger)
    end_ns: int = Field(sa_type=BigInteger)
    status: str
    status_message: str = Field(sa_type=Text)
    attributes: str = Field(sa_type=Text)
    events: str = Field(sa_type=Text)
    links: str = Field(sa_type=Text)
    service: str
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)

    def to_record(self) -> SpanRecord:
        return SpanRecord(
            trace_id=self.trace_id,
            span_id=self.span_id,
            parent_span_id=self.parent_span_id,
            name=self.name,
            kind=self.kind,
            start_ns=self.start_ns,
            end_ns=self.end_ns,
            status=self.status,
            status_message=self.status_message,
            attributes=json.loads(self.attributes),
            events=json.loads(self.events),
            links=json.loads(self.links),
            service=self.service,
        )

    def to_stored(self) -> StoredRecord:
        return StoredRecord(
            seq=self.seq,
            record=self.to_record(),
            prev_hash=self.prev_hash,
            hash=self.hash,
            conversation_id=self.conversation_id,
        )


class AuditStore:
    """The audit trail's table in a SQL database.

    Args:
        database: a SQLAlchemy URL (``sqlite:///audit.db``, ``postgresql://user@host/db``) or
            an engine. The database is brought to the audit branch of agentflow's migrations
            (:data:`agentflow.migrations.AUDIT`: the table and its append-only triggers); to
            read or check a trail without ever creating one, use :meth:`existing`.
    """

    def __init__(self, database: str | Engine, *, create: bool = True) -> None:
        self.engine = (
            database
            if isinstance(database, Engine)
            else create_store_engine(database, create=create)
        )
        self._postgres = self.engine.dialect.name == "postgresql"
        if create:
            # The table, its indexes and its append-only triggers are the audit migrations'.
            upgrade(self.engine, AUDIT)

    @classmethod
    def existing(cls, database: str | Engine) -> AuditStore:
        """The store in ``database``, opened for reading and checking: nothing is created.

        Raises:
            ConfigurationError: There is no audit store there: no SQLite file, or no audit
                table in the database (both are reported as such, never as an empty trail).
        """
        if isinstance(database, str):
            where = make_url(database).render_as_string(hide_password=True)
            path = _sqlite_file(database)
            if path is not None and not path.exists():
                raise ConfigurationError(f"no audit store at {where}: {path} does not exist")
        else:
            where = database.url.render_as_string(hide_password=True)
        store = cls(database, create=False)
        if not inspect(store.engine).has_table(TABLE):
            store.dispose()
            raise ConfigurationError(f"no audit store at {where}: it has no {TABLE} table")
        return store

    def append(self, records: Sequence[SpanRecord]) -> list[StoredRecord]:
        """Append ``records`` in order, in one transaction, chained to the current head."""
        for attempt in range(_ATTEMPTS):
            try:
                return self._append_once(records)
            except (IntegrityError, OperationalError):
                # Another writer took the same sequence number (or held SQLite's write lock).
                if attempt + 1 == _ATTEMPTS:
                    raise
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def _append_once(self, records: Sequence[SpanRecord]) -> list[StoredRecord]:
        with Session(self.engine) as session:
            if self._postgres:
                session.connection().execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}
                )
            head = session.exec(select(AuditRow).order_by(col(AuditRow.seq).desc()).limit(1))
            last = head.first()
            seq, prev = (last.seq, last.hash) if last is not None else (0, GENESIS)
            stored: list[StoredRecord] = []
            for record in records:
                seq += 1
                digest = chain_hash(record.body(), prev)
                session.add(_row(seq, record, prev, digest))
                stored.append(
                    StoredRecord(
                        seq=seq,
                        record=record,
                        prev_hash=prev,
                        hash=digest,
                        conversation_id=record.conversation_id,
                    )
                )
                prev = digest
            session.commit()
        return stored

    def records(self) -> Iterator[StoredRecord]:
        """Every record, oldest first (streamed)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(AuditRow).order_by(col(AuditRow.seq)).execution_options(yield_per=500)
            )
            for row in rows:
                yield row.to_stored()

    def trace(self, trace_id: str) -> list[StoredRecord]:
        with Session(self.engine) as session:
            query = (
                select(AuditRow).where(AuditRow.trace_id == trace_id).order_by(col(AuditRow.seq))
            )
            return [row.to_stored() for row in session.exec(query)]

    def conversation(self, conversation_id: str) -> list[StoredRecord]:
        """Every record of every trace that a span of ``conversation_id`` belongs to."""
        with Session(self.engine) as session:
            traces = select(AuditRow.trace_id).where(AuditRow.conversation_id == conversation_id)
            query = (
                select(AuditRow)
                .where(col(AuditRow.trace_id).in_(traces.scalar_subquery()))
                .order_by(col(AuditRow.seq))
            )
            return [row.to_stored() for row in session.exec(query)]

    def verify(self, *, expect_head: str | None = None, allow_empty: bool = False) -> Verification:
        """Walk the chain from the first record and report every record it does not vouch for.

        Args:
            expect_head: an anchor, the ``head`` of an earlier verification: the chain must
                still hold it (the records up to it are then unchanged); records appended
                since are checked like all others.
            allow_empty: an empty trail is not a problem (a store nothing was recorded in yet).
        """
        problems: list[Problem] = []
        expected_prev, expected_seq, count = GENESIS, 1, 0
        anchor = 0 if expect_head == GENESIS else None
        previous: StoredRecord | None = None
        for stored in self.records():
            count += 1
            problems.extend(self._link_problems(stored, previous, expected_seq, expected_prev))
            if chain_hash(stored.record.body(), stored.prev_hash) != stored.hash:
                problems.append(
                    _problem(stored, "altered", f"record {stored.seq} changed after it was written")
                )
            if stored.conversation_id != stored.record.conversation_id:
                problems.append(_moved(stored))
            if anchor is None and stored.hash == expect_head:
                anchor = stored.seq
            previous, expected_prev, expected_seq = stored, stored.hash, stored.seq + 1
        head = previous.hash if previous is not None else GENESIS
        if count == 0 and not allow_empty:
            message = "the audit trail is empty: nothing was recorded, or everything was removed"
            problems.append(Problem(seq=0, kind="empty", message=message))
        if expect_head is not None and anchor is None:
            message = (
                f"the anchor {expect_head} is not in the chain, which ends at record "
                f"{expected_seq - 1} with {head}: records up to the anchor were removed or the "
                "chain was rewritten"
            )
            problems.append(Problem(seq=expected_seq - 1, kind="anchor", message=message))
        return Verification(
            ok=not problems, records=count, head=head, problems=tuple(problems), anchor=anchor
        )

    def _link_problems(
        self,
        stored: StoredRecord,
        previous: StoredRecord | None,
        expected_seq: int,
        expected_prev: str,
    ) -> list[Problem]:
        if stored.seq != expected_seq:
            single = stored.seq == expected_seq + 1
            missing = (
                f"record {expected_seq} is"
                if single
                else f"records {expected_seq} to {stored.seq - 1} are"
            )
            message = f"{missing} missing; the chain resumes at record {stored.seq}"
            return [_problem(stored, "deleted", message)]
        if stored.prev_hash == expected_prev:
            return []
        source = self._seq_of(stored.prev_hash)
        before = f"record {previous.seq}" if previous is not None else "the start of the trail"
        if source is not None:
            message = (
                f"record {stored.seq} is out of order: it was chained after the record now at "
                f"{source}, but follows {before}"
            )
            return [_problem(stored, "reordered", message)]
        message = (
            f"record {stored.seq} is not chained to {before}: a record between them was deleted, "
            "or the one before it replaced"
        )
        return [_problem(stored, "unchained", message)]

    def _seq_of(self, digest: str) -> int | None:
        with Session(self.engine) as session:
            return session.exec(select(AuditRow.seq).where(AuditRow.hash == digest)).first()

    def dispose(self) -> None:
        self.engine.dispose()


def create_store_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``; ``postgresql://`` means psycopg 3.

    With ``create``, a SQLite file's folder is made and the file put in WAL mode; without it
    (reading an existing store), nothing on disk is touched.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(url)
        if path is not None and create:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        if path is not None and create:

            @event.listens_for(engine, "connect")
            def _wal(connection: Any, _record: Any) -> None:  # pyright: ignore[reportUnusedFunction]
                # Readers (``agentflow trace``) must not block the exporter, nor it them.
                connection.execute("PRAGMA journal_mode=WAL")

        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (``None`` for another database, or one in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.query.get("mode") == "memory":
        return None
    return Path(parsed.database).expanduser()


def _row(seq: int, record: SpanRecord, prev: str, digest: str) -> AuditRow:
    return AuditRow(
        seq=seq,
        trace_id=record.trace_id,
        span_id=record.span_id,
        parent_span_id=record.parent_span_id,
        conversation_id=record.conversation_id,
        name=record.name,
        kind=record.kind,
        start_ns=record.start_ns,
        end_ns=record.end_ns,
        status=record.status,
        status_message=record.status_message,
        attributes=canonical_json(record.attributes),
        events=canonical_json(record.events),
        links=canonical_json(record.links),
        service=record.service,
        prev_hash=prev,
        hash=digest,
    )


def _moved(stored: StoredRecord) -> Problem:
    filed, recorded = stored.conversation_id, stored.record.conversation_id
    message = (
        f"record {stored.seq} is filed under conversation {filed!r} but was recorded in "
        f"{recorded!r}: its look-up column was changed, so the conversation's views miss it"
    )
    return _problem(stored, "moved", message)


def _problem(stored: StoredRecord, kind: ProblemKind, message: str) -> Problem:
    return Problem(
        seq=stored.seq,
        kind=kind,
        message=f"{message} ({stored.record.name!r}, span {stored.record.span_id})",
        span_id=stored.record.span_id,
        name=stored.record.name,
    )
