"""The embedded flight inventory: real airports, a deterministic schedule, believable fares.

Airports come from the ``airportsdata`` package (IATA codes, coordinates, time zones). Flight
times follow from the great-circle distance; fares from distance, cabin, weekday, how far
ahead the trip is bought and how full the flight is — all derived from a seed, so the same
query gives the same offers. A real flight API replaces it behind :class:`FlightProvider`.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime, timedelta
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo

import airportsdata

from examples.travel.policy import Offer

# Carrier by the origin's country (the home carrier flies the route); others fly as "XF".
CARRIERS = {"CH": "LX", "DE": "LH", "GB": "BA", "FR": "AF", "US": "UA", "NL": "KL", "SG": "SQ"}
CARRIER_NAMES = {
    "LX": "Swiss",
    "LH": "Lufthansa",
    "BA": "British Airways",
    "AF": "Air France",
    "UA": "United",
    "KL": "KLM",
    "SQ": "Singapore Airlines",
    "XF": "Xpress Flights",
}
FARE_RULES = {
    "economy": "Changes 70 EUR before departure; not refundable; 1 checked bag of 23 kg.",
    "business": "Changes free; refundable until 24 h before departure; 2 checked bags of 32 kg.",
}
DEPARTURE_SLOTS = ("06:40", "09:15", "12:50", "16:25", "19:05")
CABIN_FACTOR = {"economy": 1.0, "business": 3.4}
CRUISE_KMH = 820.0


class FlightProvider(Protocol):
    def search(self, origin: str, destination: str, day: date, cabin: str) -> list[Offer]: ...
    def find(self, offer_id: str) -> Offer | None: ...


@cache
def airports() -> dict[str, airportsdata.Airport]:
    return airportsdata.load("IATA")


def distance_km(origin: str, destination: str) -> float:
    a, b = airports()[origin], airports()[destination]
    lat1, lon1, lat2, lon2 = map(math.radians, (a["lat"], a["lon"], b["lat"], b["lon"]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


class EmbeddedInventory:
    """Deterministic for a ``seed``; ``today`` sets the advance-purchase discount."""

    def __init__(self, *, seed: int = 7, today: date | None = None) -> None:
        self.seed = seed
        self.today = today

    def search(self, origin: str, destination: str, day: date, cabin: str) -> list[Offer]:
        known = airports()
        if origin not in known or destination not in known or origin == destination:
            return []
        km = distance_km(origin, destination)
        if km < 150:
            return []
        hours = round(km / CRUISE_KMH + 0.5, 1)
        carrier = CARRIERS.get(known[origin]["country"], "XF")
        slots = DEPARTURE_SLOTS if km < 3000 else DEPARTURE_SLOTS[1::2]
        return [
            self._offer(origin, destination, day, cabin, slot, carrier, km, hours) for slot in slots
        ]

    def find(self, offer_id: str) -> Offer | None:
        """Re-quote an offer from its id: the price is recomputed, never taken from a request."""
        try:
            flight, origin, destination, y, m, d, cabin_code = offer_id.split("-")
            day = date(int(y), int(m), int(d))
        except ValueError:
            return None
        cabin = {"E": "economy", "B": "business"}.get(cabin_code)
        if cabin is None:
            return None
        matches = [o for o in self.search(origin, destination, day, cabin) if o.flight == flight]
        return matches[0] if matches else None

    def _offer(
        self,
        origin: str,
        destination: str,
        day: date,
        cabin: str,
        slot: str,
        carrier: str,
        km: float,
        hours: float,
    ) -> Offer:
        number = 100 + self._draw(origin, destination, slot) % 800
        flight = f"{carrier}{number}"
        load = 0.35 + (self._draw(flight, day.isoformat()) % 60) / 100  # 35 % .. 95 % full
        base = 60 + 0.11 * km
        weekday = 1.15 if day.weekday() in (0, 4) else 1.0  # Monday and Friday cost more
        ahead = (day - (self.today or date.today())).days
        advance = 1.45 if ahead < 7 else 1.2 if ahead < 14 else 1.0
        price = base * CABIN_FACTOR[cabin] * weekday * advance * (0.8 + 0.6 * load)
        # Local times at each end, as a timetable prints them.
        departure = datetime.combine(
            day, datetime.strptime(slot, "%H:%M").time(), ZoneInfo(airports()[origin]["tz"])
        )
        arrival = (departure + timedelta(hours=hours)).astimezone(
            ZoneInfo(airports()[destination]["tz"])
        )
        return Offer(
            offer_id=f"{flight}-{origin}-{destination}-{day.isoformat()}-{cabin[0].upper()}",
            flight=flight,
            origin=origin,
            destination=destination,
            departure=departure.replace(tzinfo=None).isoformat(timespec="minutes"),
            arrival=arrival.replace(tzinfo=None).isoformat(timespec="minutes"),
            duration_hours=hours,
            cabin=cabin,
            price=round(price, 2),
            carrier=CARRIER_NAMES[carrier],
            fare_rules=FARE_RULES[cabin],
        )

    def _draw(self, *parts: str) -> int:
        digest = hashlib.sha256("|".join((str(self.seed), *parts)).encode()).digest()
        return int.from_bytes(digest[:4])
