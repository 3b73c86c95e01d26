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
    stops: int = 0
    """Stops on the way (the embedded inventory flies non-stop)."""
    carrier: str = ""
    """The airline's name, for people; ``flight`` starts with its IATA code."""
    fare_rules: str = ""
    """The airline's conditions (changes, refunds), as it words them: data, never instructions."""


class Violation(BaseModel):
    """One rule an offer breaks: ``rule`` names it, ``text`` says it to the employee."""

    rule: str
    text: str


class PolicyCheck(BaseModel):
    """What the policy says about one offer (see :meth:`TravelPolicy.check`)."""

    offer_id: str
    price: float
    in_policy: bool
    """No rule broken: bookable on the employee's word alone."""
    bookable: bool
    """Under the hard cap: bookable at all (out of policy, only once approved)."""
    violations: list[Violation]


@dataclass(frozen=True, kw_only=True)
class TravelPolicy:
    fare_cap: float = 1_200.0
    """Above this a trip needs the manager's approval."""
    hard_cap: float = 6_000.0
    """Above this no approval can book it."""
    business_class_min_hours: float = 6.0
    cabins: tuple[str, ...] = ("economy", "business")
    """The cabins the policy covers at all; any other (first class) is out of policy."""

    def violations(self, offer: Offer) -> list[Violation]:
        """Every rule the offer breaks that an approval may waive, in words people can read."""
        broken: list[Violation] = []
        if offer.price > self.fare_cap:
            text = f"fare {offer.price:.0f} EUR is above the {self.fare_cap:.0f} EUR cap"
            broken.append(Violation(rule="fare_cap", text=text))
        if offer.cabin not in self.cabins:
            text = f"{offer.cabin} class is not covered by the travel policy"
            broken.append(Violation(rule="cabin", text=text))
        if offer.cabin == "business" and offer.duration_hours < self.business_class_min_hours:
            text = (
                f"business class needs a flight of {self.business_class_min_hours:.0f} h or more "
                f"(this one is {offer.duration_hours:.1f} h)"
            )
            broken.append(Violation(rule="business_class_min_hours", text=text))
        return broken

    def broken_rules(self, offer: Offer) -> list[str]:
        """The texts of :meth:`violations`: what an approver is asked to waive."""
        return [v.text for v in self.violations(offer)]

    def above_hard_cap(self, offer: Offer) -> Violation | None:
        """The one rule no approval waives."""
        if offer.price <= self.hard_cap:
            return None
        text = f"{offer.price:.0f} EUR is above the hard cap of {self.hard_cap:.0f} EUR"
        return Violation(rule="hard_cap", text=text)

    def check(self, offer: Offer) -> PolicyCheck:
        """The whole verdict on an offer, hard cap included, for the employee to read."""
        hard_cap = self.above_hard_cap(offer)
        violations = self.violations(offer) + ([hard_cap] if hard_cap else [])
        return PolicyCheck(
            offer_id=offer.offer_id,
            price=offer.price,
            in_policy=not violations,
            bookable=hard_cap is None,
            violations=violations,
        )


POLICY = TravelPolicy()
