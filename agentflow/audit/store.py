"""The audit store: every span as an append-only row, each chained to the one before by hash.

An audit trail is only worth something if an auditor can tell it has not been doctored. Each
row carries ``hash = SHA-256(canonical JSON of {"prev": previous row's hash, "record": the
span})``, the first row chaining to `GENESIS`. Editing a row breaks its own hash; deleting
one leaves a gap in the sequence and a dangling link; moving rows breaks the links around them.
[`AuditStore.verify`][agentflow.audit.AuditStore.verify] walks the chain and names every such
record.

Every column a view looks records up by is covered by the hash or derived from what it covers:
``trace_id`` is part of the hashed record, and ``conversation_id`` is the record's
``gen_ai.conversation.id`` attribute, which [`verify`][agentflow.audit.AuditStore.verify] derives
again and compares, so a record moved to another conversation (hidden from ``agentflow trace`` and
the timeline) is named.

Rewriting the chain from some row to the end, cutting rows off the end, or emptying the table
needs an anchor from outside: keep the head hash [`verify`][agentflow.audit.AuditStore.verify]
reports, and pass it back as ``expect_head`` next time. An anchor says "the records up to here are
unchanged": the chain must still hold that hash, and verify up to it, however many records were
appended since. An empty trail is a problem unless the caller says it may be empty.

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
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import BigInteger, Engine, Text, event, func, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from agentflow.audit.attributes import CONVERSATION_ID
from agentflow.audit.checkpoints import (
    Checkpoint,
    Checkpointer,
    SigningKey,
    VerifyKeys,
    checkpoint_problems,
)
from agentflow.binding import canonical_json
from agentflow.exceptions import ConfigurationError
from agentflow.extras import require
from agentflow.migrations import AUDIT, upgrade

GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""

TABLE = "agentflow_audit_record"
CHECKPOINT_TABLE = "agentflow_audit_checkpoint"
_LOCK_KEY = 0x6167_666C_6F77  # "agflow": the advisory lock that serialises appends
_ATTEMPTS = 8

log = logging.getLogger("agentflow.audit")


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


ProblemKind = Literal[
    "altered", "deleted", "reordered", "unchained", "moved", "anchor", "empty", "checkpoint"
]


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
    checkpoint: int | None = None
    """A view's verification (`AuditStore.verify_view`): the checkpoint it started from
    (``None``: there was none, and it walked the whole chain)."""
    checked: int = 0
    """A view's verification: how many records it checked."""


@dataclass(kw_only=True)
class _Walk:
    head: str
    last_seq: int
    count: int = 0
    problems: list[Problem] = field(default_factory=list["Problem"])
    hashes: dict[int, str] = field(default_factory=dict[int, str])
    """The hash of each watched record."""
    found: int | None = None
    """The first record holding the hash looked for."""


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


class CheckpointRow(_AuditModel, table=True):
    """A signed checkpoint (see `agentflow.audit.checkpoints`): append-only too."""

    __tablename__ = CHECKPOINT_TABLE  # pyright: ignore[reportAssignmentType, reportIncompatibleVariableOverride]

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    head: str = Field(max_length=64)
    at_ns: int = Field(sa_type=BigInteger)
    key_id: str
    algorithm: str
    signature: str = Field(sa_type=Text)

    def to_checkpoint(self) -> Checkpoint:
        return Checkpoint(
            seq=self.seq,
            head=self.head,
            at_ns=self.at_ns,
            key_id=self.key_id,
            algorithm=self.algorithm,
            signature=self.signature,
        )


class AuditStore:
    """The audit trail's table in a SQL database.

    Args:
        database: a SQLAlchemy URL (``sqlite:///audit.db``, ``postgresql://user@host/db``) or
            an engine. The database is brought to the audit branch of agentflow's migrations
            (`agentflow.migrations.AUDIT`: the table and its append-only triggers); to
            read or check a trail without ever creating one, use
            [`existing`][agentflow.audit.AuditStore.existing].
        checkpointer: writes a checkpoint every so many records appended (see
            `agentflow.audit.checkpoints`); by default every
            `DEFAULT_EVERY` records, signed with the key
            ``AGENTFLOW_AUDIT_SIGNING_KEY`` names (unsigned without one).
    """

    def __init__(
        self,
        database: str | Engine,
        *,
        create: bool = True,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self.engine = (
            database
            if isinstance(database, Engine)
            else create_store_engine(database, create=create)
        )
        self._postgres = self.engine.dialect.name == "postgresql"
        self.checkpointer = checkpointer or Checkpointer(key=SigningKey.from_env())
        self._last_checkpoint_seq: int | None = None
        self._checkpoint_table = create
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
                stored = self._append_once(records)
            except (IntegrityError, OperationalError):
                # Another writer took the same sequence number (or held SQLite's write lock).
                if attempt + 1 == _ATTEMPTS:
                    raise
                time.sleep(0.01 * 2**attempt)
                continue
            if (
                stored
                and self._has_checkpoint_table()
                and self.checkpointer.due(stored[-1].seq, self._checkpointed)
            ):
                self._checkpoint_quietly(stored[-1].seq, stored[-1].hash)
            return stored
        raise AssertionError("unreachable")

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint | None:
        """Write a checkpoint of the current head now (``None``: the trail is empty)."""
        with Session(self.engine) as session:
            last = session.exec(select(AuditRow).order_by(col(AuditRow.seq).desc()).limit(1))
            head = last.first()
        if head is None:
            return None
        return self._write_checkpoint(head.seq, head.hash)

    def checkpoint_if_behind(self) -> None:
        """Checkpoint the head if records were appended since the last checkpoint; never raises."""
        try:
            last = self._last_seq()
            if last == 0 or not self._has_checkpoint_table() or last <= self._checkpointed:
                return
            head = self._links([last])[last][1]
        except Exception:
            log.exception("could not read the audit trail's head to checkpoint it")
            return
        self._checkpoint_quietly(last, head)

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint in the store, oldest first."""
        if not self._has_checkpoint_table():
            return []
        with Session(self.engine) as session:
            rows = session.exec(select(CheckpointRow).order_by(col(CheckpointRow.seq)))
            return [row.to_checkpoint() for row in rows]

    def last_checkpoint(self, keys: VerifyKeys | None = None) -> Checkpoint | None:
        """The newest checkpoint; with ``keys``, the newest whose signature they accept."""
        if not self._has_checkpoint_table():
            return None
        with Session(self.engine) as session:
            rows = session.exec(select(CheckpointRow).order_by(col(CheckpointRow.seq).desc()))
            for row in rows:
                checkpoint = row.to_checkpoint()
                if keys is None or keys.problem(checkpoint) is None:
                    return checkpoint
        return None

    def _has_checkpoint_table(self) -> bool:
        # A store an older version made, opened to be read (never migrated): no checkpoints.
        if not self._checkpoint_table:
            self._checkpoint_table = inspect(self.engine).has_table(CHECKPOINT_TABLE)
        return self._checkpoint_table

    @property
    def _checkpointed(self) -> int:
        if self._last_checkpoint_seq is None:
            with Session(self.engine) as session:
                found = session.exec(select(func.max(CheckpointRow.seq))).first()
            self._last_checkpoint_seq = found or 0
        return self._last_checkpoint_seq

    def _checkpoint_quietly(self, seq: int, head: str) -> None:
        # The records are committed: a checkpoint that cannot be written is logged, and the
        # next append tries again.
        try:
            self._write_checkpoint(seq, head)
        except Exception:
            log.exception("could not write an audit checkpoint at record %d", seq)

    def _write_checkpoint(self, seq: int, head: str) -> Checkpoint:
        checkpoint = self.checkpointer.make(seq, head)
        try:
            with Session(self.engine) as session:
                session.add(
                    CheckpointRow(
                        seq=checkpoint.seq,
                        head=checkpoint.head,
                        at_ns=checkpoint.at_ns,
                        key_id=checkpoint.key_id,
                        algorithm=checkpoint.algorithm,
                        signature=checkpoint.signature,
                    )
                )
                session.commit()
        except IntegrityError:
            # Another process checkpointed this record already.
            self._last_checkpoint_seq = seq
            return checkpoint
        self._last_checkpoint_seq = seq
        self.checkpointer.written(checkpoint)
        return checkpoint

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

    def records(self, *, after: int = 0) -> Iterator[StoredRecord]:
        """Every record (after record ``after``), oldest first (streamed)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(AuditRow)
                .where(AuditRow.seq > after)
                .order_by(col(AuditRow.seq))
                .execution_options(yield_per=500)
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

    def verify(
        self,
        *,
        expect_head: str | None = None,
        allow_empty: bool = False,
        keys: VerifyKeys | None = None,
        checkpoints: Sequence[Checkpoint] = (),
    ) -> Verification:
        """Walk the chain from the first record and report every record it does not vouch for.

        Every checkpoint (the store's, and ``checkpoints``) must agree with the chain: a
        checkpoint past the last record means records were cut off the end, one whose record
        has another hash means the chain was rewritten.

        Args:
            expect_head: an anchor, the ``head`` of an earlier verification: the chain must
                still hold it (the records up to it are then unchanged); records appended
                since are checked like all others.
            allow_empty: an empty trail is not a problem (a store nothing was recorded in yet).
            keys: the public keys checkpoints are signed with: a signed checkpoint they do not
                accept (unknown key, bad signature) is a problem.
            checkpoints: checkpoints kept outside the store (an exported file), which catch
                an emptied checkpoint table too.
        """
        pinned = _merged(self.checkpoints(), checkpoints)
        walk = self._walk(self.records(), watch={c.seq for c in pinned}, find=expect_head)
        problems, count, head = walk.problems, walk.count, walk.head
        anchor = 0 if expect_head == GENESIS else walk.found
        if count == 0 and not allow_empty:
            message = "the audit trail is empty: nothing was recorded, or everything was removed"
            problems.append(Problem(seq=0, kind="empty", message=message))
        if expect_head is not None and anchor is None:
            message = (
                f"the anchor {expect_head} is not in the chain, which ends at record "
                f"{walk.last_seq} with {head}: records up to the anchor were removed or the "
                "chain was rewritten"
            )
            problems.append(Problem(seq=walk.last_seq, kind="anchor", message=message))
        for seq, message in checkpoint_problems(pinned, walk.hashes, walk.last_seq, keys):
            problems.append(Problem(seq=seq, kind="checkpoint", message=message))
        return Verification(
            ok=not problems, records=count, head=head, problems=tuple(problems), anchor=anchor
        )

    def verify_view(
        self, shown: Sequence[StoredRecord], *, keys: VerifyKeys | None = None
    ) -> Verification:
        """What a view checks: the chain since the last checkpoint, and ``shown`` in the chain.

        The records since the newest checkpoint (with ``keys``: the newest they accept) are
        walked like [`verify`][agentflow.audit.AuditStore.verify] walks them; each shown record
        before it is checked alone (its hash, its conversation) and with its neighbours (linked to
        the record before and the record after). The cost depends on the checkpoint interval and on
        what is shown, not on the size of the store; [`verify`][agentflow.audit.AuditStore.verify]
        checks everything.
        """
        checkpoint = self.last_checkpoint(keys)
        start = checkpoint.seq if checkpoint is not None else 0
        prev = checkpoint.head if checkpoint is not None else GENESIS
        walk = self._walk(self.records(after=start), seq=start + 1, prev=prev)
        problems = walk.problems
        last_seq = walk.last_seq if walk.count else self._last_seq()
        if checkpoint is not None:
            at = self._links([start]).get(start)
            hashes = {start: at[1]} if at is not None else {}
            for seq, message in checkpoint_problems([checkpoint], hashes, last_seq, None):
                problems.append(Problem(seq=seq, kind="checkpoint", message=message))
        older = [s for s in shown if s.seq <= start]
        links = self._links({n for s in older for n in (s.seq - 1, s.seq + 1)})
        for stored in older:
            problems.extend(_alone(stored))
            before = GENESIS if stored.seq == 1 else links.get(stored.seq - 1, ("", ""))[1]
            after = links.get(stored.seq + 1)
            if before != stored.prev_hash:
                message = f"record {stored.seq} is not chained to the record before it"
                problems.append(_problem(stored, "unchained", message))
            if after is not None and after[0] != stored.hash:
                message = f"the record after record {stored.seq} is not chained to it"
                problems.append(_problem(stored, "unchained", message))
        return Verification(
            ok=not problems,
            records=last_seq,
            head=walk.head if walk.count else prev,
            problems=tuple(problems),
            checkpoint=checkpoint.seq if checkpoint is not None else None,
            checked=walk.count + len(older),
        )

    def _walk(
        self,
        records: Iterable[StoredRecord],
        *,
        seq: int = 1,
        prev: str = GENESIS,
        watch: set[int] | None = None,
        find: str | None = None,
    ) -> _Walk:
        walk = _Walk(head=prev, last_seq=seq - 1)
        previous: StoredRecord | None = None
        for stored in records:
            walk.count += 1
            walk.problems.extend(self._link_problems(stored, previous, seq, prev))
            walk.problems.extend(_alone(stored))
            if watch is not None and stored.seq in watch:
                walk.hashes[stored.seq] = stored.hash
            if walk.found is None and stored.hash == find:
                walk.found = stored.seq
            previous, prev, seq = stored, stored.hash, stored.seq + 1
            walk.head, walk.last_seq = stored.hash, stored.seq
        return walk

    def _links(self, seqs: Iterable[int]) -> dict[int, tuple[str, str]]:
        """``seq -> (prev_hash, hash)`` of the records at ``seqs`` that exist."""
        wanted = sorted(set(seqs))
        found: dict[int, tuple[str, str]] = {}
        with Session(self.engine) as session:
            for i in range(0, len(wanted), 500):
                query = select(AuditRow.seq, AuditRow.prev_hash, AuditRow.hash).where(
                    col(AuditRow.seq).in_(wanted[i : i + 500])
                )
                for seq, prev_hash, digest in session.exec(query):
                    found[seq] = (prev_hash, digest)
        return found

    def _last_seq(self) -> int:
        with Session(self.engine) as session:
            return session.exec(select(func.max(AuditRow.seq))).first() or 0

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
    if parsed.get_backend_name() == "postgresql":
        require("postgres", "a postgresql:// database")
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


def _alone(stored: StoredRecord) -> list[Problem]:
    """What one record shows by itself: a body that is not what was hashed, a moved record."""
    problems: list[Problem] = []
    if chain_hash(stored.record.body(), stored.prev_hash) != stored.hash:
        message = f"record {stored.seq} changed after it was written"
        problems.append(_problem(stored, "altered", message))
    if stored.conversation_id != stored.record.conversation_id:
        problems.append(_moved(stored))
    return problems


def _merged(*groups: Sequence[Checkpoint]) -> list[Checkpoint]:
    """Checkpoints from the store and from elsewhere, each once, by record."""
    unique = {(c.seq, c.head, c.signature): c for group in groups for c in group}
    return sorted(unique.values(), key=lambda c: c.seq)


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
