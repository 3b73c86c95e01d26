"""Bookings in the database (sqlmodel: SQLite by default, PostgreSQL by URL).

The travel app's tables are made by its own migrations (``examples/travel/migrations``), run
by :func:`prepare_store`; a change to a table model here must come with a revision there.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, Index, func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from agentflow.approvals import create_tables
from agentflow.migrations import Migrations, upgrade

ACTIVE = text("status = 'booked'")

ONE_ACTIVE_BOOKING_PER_OFFER = Index(
    "ux_booking_active_offer",
    "employee",
    "offer_id",
    unique=True,
    sqlite_where=ACTIVE,
    postgresql_where=ACTIVE,
)
"""A traveller never holds the same flight twice: enforced by the database, so that calls
racing each other (parallel tool calls, several workers) cannot both insert."""


class Booking(SQLModel, table=True):
    __table_args__ = (ONE_ACTIVE_BOOKING_PER_OFFER,)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, index=True)
    employee: str = Field(index=True)
    offer_id: str
    flight: str
    departure: str
    cabin: str
    price: float
    approved_by: str | None = None
    status: str = "booked"
    """``booked`` or ``cancelled``: rows are never deleted, so the record of a trip stays."""


class AlreadyBooked(Exception):
    """The employee already holds an active booking on this offer."""

    def __init__(self, booking: Booking) -> None:
        super().__init__(f"you already hold booking #{booking.id} on this flight")
        self.booking = booking


MIGRATIONS = Migrations(
    directory=Path(__file__).parent / "migrations",
    head="travel_0001",
    version_table="travel_alembic_version",
)
"""The travel app's own schema history, recorded apart from agentflow's."""


def open_store(url: str) -> Engine:
    return prepare_store(create_engine(url))


def prepare_store(engine: Engine) -> Engine:
    """Bring the database to the schema this code expects: agentflow's, then the travel app's.

    A database made before there were migrations is adopted with its rows. One that holds the
    same active booking more than once is refused with the rows to resolve: cancelling one of
    them is a decision for a person, not for a migration.
    """
    create_tables(engine)
    try:
        upgrade(engine, MIGRATIONS)
        # The index is the rule itself: should it have been dropped, it comes back.
        ONE_ACTIVE_BOOKING_PER_OFFER.create(engine, checkfirst=True)
    except IntegrityError:
        raise RuntimeError(
            "the booking table holds the same active booking more than once; cancel all but "
            f"one of each before starting: {', '.join(_duplicates(engine))}"
        ) from None
    return engine


def _duplicates(engine: Engine) -> list[str]:
    with Session(engine) as session:
        query = (
            select(Booking.employee, Booking.offer_id, func.count())
            .where(Booking.status == "booked")
            .group_by(col(Booking.employee), col(Booking.offer_id))
            .having(func.count() > 1)
        )
        return [f"{e} {o} ({n} rows)" for e, o, n in session.exec(query).all()]


def book_once(engine: Engine, booking: Booking) -> Booking:
    """Insert unless a booking with the same idempotency key exists; return the stored one.

    Raises :class:`AlreadyBooked` when the employee holds this offer under another key.
    """
    with Session(engine) as session:
        existing = _by_key(session, booking.idempotency_key)
        if existing is not None:
            return existing
        session.add(booking)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            # Lost a race: to a retry of this very call (its booking is the answer), or to
            # another call for the same offer (refused, whichever of the two came first).
            existing = _by_key(session, booking.idempotency_key)
            if existing is not None:
                return existing
            held = active_booking(engine, booking.employee, booking.offer_id)
            if held is None:  # pragma: no cover - the conflicting row was cancelled meanwhile
                raise
            raise AlreadyBooked(held) from None
        session.refresh(booking)
        return booking


def _by_key(session: Session, key: str) -> Booking | None:
    return session.exec(select(Booking).where(Booking.idempotency_key == key)).first()


def active_booking(engine: Engine, employee: str, offer_id: str) -> Booking | None:
    """The employee's booking on ``offer_id`` that is not cancelled, if any."""
    with Session(engine) as session:
        query = select(Booking).where(
            Booking.employee == employee, Booking.offer_id == offer_id, Booking.status == "booked"
        )
        return session.exec(query).first()


def trips_of(engine: Engine, employee: str) -> list[Booking]:
    with Session(engine) as session:
        return list(session.exec(select(Booking).where(Booking.employee == employee)).all())


def find_booking(engine: Engine, booking_id: int) -> Booking | None:
    with Session(engine) as session:
        return session.get(Booking, booking_id)


def cancel(engine: Engine, booking_id: int) -> Booking:
    """Mark a booking cancelled (idempotent: cancelling twice changes nothing more)."""
    with Session(engine) as session:
        booking = session.get(Booking, booking_id)
        if booking is None:
            raise LookupError(f"no booking {booking_id}")
        booking.status = "cancelled"
        session.add(booking)
        session.commit()
        session.refresh(booking)
        return booking
