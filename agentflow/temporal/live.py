"""Live text: a durable model call's answer, piece by piece, to clients outside workflow history.

On Temporal a model call is an activity, and whatever an activity hands the workflow is written
into its history: streaming tokens through the workflow (signals, updates, or Temporal's
Workflow Streams, which batch signals) would make history grow with every token. Instead, the
activity streams from the provider and writes what it has so far into a small table of the
application's database (SQLite or PostgreSQL, the ``live`` migrations branch), which clients in
other processes read:

* The worker (`AgentflowPlugin` with ``live_text=``) opens a
  `LiveWriter` around each model call: pieces are coalesced and written at most every
  `FLUSH_INTERVAL` seconds, and every row of the call is deleted once the call ends,
  before the activity returns; rows a lost worker left behind are swept after
  `STALE_AFTER`. The table holds only the model calls under way.
* A client (`AgentClient` with ``live_text=``) reads the rows after
  the last one it saw: `AgentClient.stream` then yields
  `TextDelta` events between the steps, and the web chat shows the
  text as it comes.

Nothing depends on it: the answer still arrives whole as the turn's reply, through the update,
so a stream that is off, dropped, late or broken loses nothing but the show. A failing database
never fails a model call: the writer logs once and stops writing for that call.

Each row names its call (``run id/activity id``), the activity's attempt and the adapter's
retry within it (``restart``): a call retried starts its text again under a higher
``(attempt, restart)``, as `ModelRetrying` announces in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy import Engine

from agentflow.events import ModelRetrying
from agentflow.migrations import LIVE, upgrade

__all__ = ["FLUSH_INTERVAL", "STALE_AFTER", "LivePiece", "LiveText", "LiveWriter"]

log = logging.getLogger(__name__)

TABLE = "agentflow_live_text"
FLUSH_INTERVAL = 0.05
"""Seconds between two writes of one call's new text: a call writes at most 20 rows a second."""
STALE_AFTER = timedelta(minutes=15)
"""Rows older than this belong to a call whose worker was lost; any writer then deletes them."""
FINISH_WAIT = 2.0
"""Seconds a call's end waits for its last write and its rows' deletion before it returns."""

_metadata = sa.MetaData()
_rows = sa.Table(
    TABLE,
    _metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("conversation_id", sa.String(), nullable=False),
    sa.Column("call", sa.String(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("restart", sa.Integer(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(f"ix_{TABLE}_conversation", "conversation_id", "id"),
    sa.Index(f"ix_{TABLE}_written_at", "written_at"),
    # Ids are never reused (SQLite would, once the table is empty): clients read after one.
    sqlite_autoincrement=True,
)
"""The schema is written by the ``live`` migrations branch; this describes it for queries."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LivePiece:
    """A piece of a model call's text, in the order it was written (``id``)."""

    id: int
    call: str
    """The model call: the workflow run and the activity (``run id/activity id``)."""
    attempt: int
    """The activity's attempt (1 for the first)."""
    restart: int
    """The model adapter's retries before this piece, within the attempt."""
    text: str


class LiveText:
    """The table of live text in the application database ``engine`` (migrated on first use).

    One instance serves a whole process: a worker's model calls write through it, a client's
    streams read through it. Its methods run the database work in a thread.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._migrated = False
        self._swept_at: float | None = None
        self._finishing: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str) -> LiveText:
        """The live text of the database at ``url`` (``postgresql://`` means psycopg 3)."""
        from agentflow.audit.store import create_store_engine

        return cls(create_store_engine(url))

    def _ready(self) -> None:
        if not self._migrated:
            upgrade(self.engine, LIVE)
            self._migrated = True

    def open(self, conversation_id: str, call: str, *, attempt: int = 1) -> LiveWriter:
        """A writer for one model call's text (use it with ``async with``)."""
        return LiveWriter(self, conversation_id, call, attempt)

    async def read(self, conversation_id: str, after: int = 0) -> list[LivePiece]:
        """The conversation's pieces written after the one whose id is ``after``, oldest first."""
        return await asyncio.to_thread(self._read, conversation_id, after)

    async def last_id(self, conversation_id: str) -> int:
        """The id of the conversation's newest piece (0: none): read after it for what is new."""
        return await asyncio.to_thread(self._last_id, conversation_id)

    async def current(self, conversation_id: str) -> tuple[str, str] | None:
        """The model call under way in the conversation and its text so far, if any.

        The newest call's newest ``(attempt, restart)``: a retried call's void text is left out.
        """
        pieces = await self.read(conversation_id)
        if not pieces:
            return None
        newest = pieces[-1]
        text = "".join(
            p.text
            for p in pieces
            if (p.call, p.attempt, p.restart) == (newest.call, newest.attempt, newest.restart)
        )
        return newest.call, text

    # -- the database work (in threads) -----------------------------------------------------

    def _read(self, conversation_id: str, after: int) -> list[LivePiece]:
        self._ready()
        query = (
            sa.select(_rows)
            .where(_rows.c.conversation_id == conversation_id, _rows.c.id > after)
            .order_by(_rows.c.id)
        )
        with self.engine.connect() as connection:
            return [
                LivePiece(
                    id=row.id,
                    call=row.call,
                    attempt=row.attempt,
                    restart=row.restart,
                    text=row.text,
                )
                for row in connection.execute(query)
            ]

    def _last_id(self, conversation_id: str) -> int:
        self._ready()
        query = sa.select(sa.func.max(_rows.c.id)).where(_rows.c.conversation_id == conversation_id)
        with self.engine.connect() as connection:
            return connection.scalar(query) or 0

    def _write(
        self, conversation_id: str, call: str, attempt: int, restart: int, text: str
    ) -> None:
        self._ready()
        row = {
            "conversation_id": conversation_id,
            "call": call,
            "attempt": attempt,
            "restart": restart,
            "text": text,
            "written_at": datetime.now(UTC),
        }
        with self.engine.begin() as connection:
            connection.execute(sa.insert(_rows), row)

    def _forget(self, conversation_id: str, call: str) -> None:
        """Delete the call's rows (every attempt's), and now and then those of lost workers."""
        self._ready()
        with self.engine.begin() as connection:
            connection.execute(
                sa.delete(_rows).where(
                    _rows.c.conversation_id == conversation_id, _rows.c.call == call
                )
            )
            swept = self._swept_at
            if swept is None or time.monotonic() - swept > STALE_AFTER.total_seconds() / 3:
                self._swept_at = time.monotonic()
                cutoff = datetime.now(UTC) - STALE_AFTER
                connection.execute(sa.delete(_rows).where(_rows.c.written_at < cutoff))


class LiveWriter:
    """Writes one model call's text as it comes; deletes it when the call ends.

    `add` and `restart` never block and never raise: they are a delta listener and
    a retry listener (see `agentflow.models.deltas`). A write that fails is logged and
    ends the writing for this call; the call itself goes on.
    """

    def __init__(self, live: LiveText, conversation_id: str, call: str, attempt: int) -> None:
        self.live = live
        self.conversation_id = conversation_id
        self.call = call
        self.attempt = attempt
        self._restart = 0
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._broken = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._flush_loop(), name=f"live text {self.call}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        finishing = asyncio.create_task(self._finish())
        self.live._finishing.add(finishing)  # pyright: ignore[reportPrivateUsage]
        finishing.add_done_callback(self.live._finishing.discard)  # pyright: ignore[reportPrivateUsage]
        # Normally done in milliseconds, so that a client sees the rows gone before the step;
        # a stuck database must not hold the model's answer back, so the rest goes on alone.
        await asyncio.wait({finishing}, timeout=FINISH_WAIT)

    def add(self, text: str) -> None:
        """A piece of the answer's text (a `DeltaListener`)."""
        if text and not self._broken:
            self._pending.append(text)
            self._wake.set()

    def restart(self, retrying: ModelRetrying) -> None:
        """The adapter retries: the text written so far is void and starts again.

        A `RetryListener`.
        """
        self._pending.clear()
        self._restart += 1

    async def _flush_loop(self) -> None:
        while not self._stop.is_set():
            await self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return  # the call has ended: its rows are about to go
            await self._flush()
            # At most one write per interval: pieces that come meanwhile go in the next one.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=FLUSH_INTERVAL)

    async def _flush(self) -> None:
        if not self._pending or self._broken:
            return
        text, restart = "".join(self._pending), self._restart
        self._pending.clear()
        try:
            await asyncio.to_thread(
                self.live._write,  # pyright: ignore[reportPrivateUsage]
                self.conversation_id,
                self.call,
                self.attempt,
                restart,
                text,
            )
        except Exception as exc:  # any failure (the database, its migration): the call goes on
            self._broken = True
            log.warning("live text for %s is off: %s", self.conversation_id, exc)

    async def _finish(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        try:
            await asyncio.to_thread(
                self.live._forget,  # pyright: ignore[reportPrivateUsage]
                self.conversation_id,
                self.call,
            )
        except Exception as exc:  # left for the sweep; the call's answer is not held back
            log.warning("live text of %s was not deleted: %s", self.conversation_id, exc)
