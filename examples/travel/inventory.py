"""A small deterministic flight inventory: same query, same offers, every time."""

from __future__ import annotations

import hashlib
from datetime import date

from examples.travel.policy import Offer

# (origin, destination): (carrier code, block hours)
ROUTES: dict[tuple[str, str], tuple[str, float]] = {
    ("ZRH", "LHR"): ("LX", 1.8),
    ("ZRH", "JFK"): ("LX", 9.0),
    ("ZRH", "CDG"): ("AF", 1.3),
    ("ZRH", "SIN"): ("SQ", 12.3),
    ("LHR", "JFK"): ("BA", 8.0),
}
DEPARTURES = ("07:10", "12:45", "18:30")
CABIN_FACTOR = {"economy": 1.0, "business": 3.6}


def _route(origin: str, destination: str) -> tuple[str, float] | None:
    return ROUTES.get((origin, destination)) or ROUTES.get((destination, origin))


def search(origin: str, destination: str, day: date, cabin: str) -> list[Offer]:
    route = _route(origin, destination)
    if route is None:
        return []
    carrier, hours = route
    offers: list[Offer] = []
    for index, departure in enumerate(DEPARTURES):
        seed = f"{origin}{destination}{day.isoformat()}{index}".encode()
        jitter = int.from_bytes(hashlib.sha256(seed).digest()[:2]) % 120
        base = 90 + 85 * hours + jitter
        flight = f"{carrier}{100 + 17 * index + len(origin + destination)}"
        offers.append(
            Offer(
                offer_id=f"{flight}-{day.isoformat()}-{cabin[0].upper()}",
                flight=flight,
                origin=origin,
                destination=destination,
                departure=f"{day.isoformat()}T{departure}",
                duration_hours=hours,
                cabin=cabin,
                price=round(base * CABIN_FACTOR[cabin], 2),
            )
        )
    return offers


def find(offer_id: str) -> Offer | None:
    """Re-quote an offer by id (the price is recomputed, never taken from the model)."""
    try:
        flight_day, cabin_code = offer_id.rsplit("-", 1)
        flight, day_text = flight_day.split("-", 1)
        day = date.fromisoformat(day_text)
    except ValueError:
        return None
    cabin = {"E": "economy", "B": "business"}.get(cabin_code)
    if cabin is None:
        return None
    for origin, destination in list(ROUTES) + [(d, o) for o, d in ROUTES]:
        for offer in search(origin, destination, day, cabin):
            if offer.flight == flight:
                return offer
    return None
