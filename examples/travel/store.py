"""Bookings in the database (sqlmodel: SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Field, Session, SQLModel, create_engine, select


class Booking(SQLModel, table=True):
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


def open_store(url: str) -> Engine:
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    return engine


def book_once(engine: Engine, booking: Booking) -> Booking:
    """Insert unless a booking with the same idempotency key exists; return the stored one."""
    with Session(engine) as session:
        query = select(Booking).where(Booking.idempotency_key == booking.idempotency_key)
        existing = session.exec(query).first()
        if existing is not None:
            return existing
        session.add(booking)
        session.commit()
        session.refresh(booking)
        return booking


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
