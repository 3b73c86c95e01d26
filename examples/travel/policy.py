"""The company travel policy, as code: the model never decides whether a trip is in policy."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel


class Offer(BaseModel):
    """A bookable flight at a price, as the inventory quotes it."""

    offer_id: str
    flight: str
    origin: str
    destination: str
    departure: str
    arrival: str
    duration_hours: float
    cabin: str
    price: float


@dataclass(frozen=True, kw_only=True)
class TravelPolicy:
    fare_cap: float = 1_200.0
    """Above this a trip needs the manager's approval."""
    hard_cap: float = 6_000.0
    """Above this no approval can book it."""
    business_class_min_hours: float = 6.0

    def broken_rules(self, offer: Offer) -> list[str]:
        """Every rule the offer breaks, in words the employee and the manager can read."""
        broken: list[str] = []
        if offer.price > self.fare_cap:
            broken.append(f"fare {offer.price:.0f} EUR is above the {self.fare_cap:.0f} EUR cap")
        if offer.cabin == "business" and offer.duration_hours < self.business_class_min_hours:
            broken.append(
                f"business class needs a flight of {self.business_class_min_hours:.0f} h or more "
                f"(this one is {offer.duration_hours:.1f} h)"
            )
        return broken


POLICY = TravelPolicy()
