"""The travel agent's tools and the preconditions that guard booking."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import Engine

from agentflow import (
    Allow,
    Decision,
    Deny,
    ModelRetry,
    NeedsApproval,
    RunContext,
    all_of,
    precondition,
    tool,
)
from agentflow.approvals import ApprovalLedger, OrgChart
from examples.travel.company import home_airport
from examples.travel.confirmation import confirmation
from examples.travel.dates import parse_day
from examples.travel.inventory import EmbeddedInventory, FlightProvider
from examples.travel.policy import POLICY, Offer, PolicyCheck, TravelPolicy
from examples.travel.quotes import quote
from examples.travel.store import (
    AlreadyBooked,
    Booking,
    active_booking,
    book_once,
    cancel,
    find_booking,
    trips_of,
)


@dataclass(frozen=True, kw_only=True)
class TravelDeps:
    engine: Engine
    flights: FlightProvider = field(default_factory=EmbeddedInventory)
    policy: TravelPolicy = POLICY
    org: OrgChart | None = None
    """Who approves an out-of-policy trip: the requester's approver chain (none: no approval)."""
    ledger: ApprovalLedger | None = None
    """Makes each approval single-use across executions (in-process runs may go without)."""
    now: Callable[[], datetime] = datetime.now


Ctx = RunContext[TravelDeps]
CANCELLATION_CONFIRMED = re.compile(r"\b(cancel|yes|confirm)\b", re.IGNORECASE)


@precondition
def employee_confirmed(ctx: Ctx, args: Any) -> Decision:
    """The employee's latest message must name this offer (id, flight, option N, or "it")."""
    said = confirmation(ctx.latest_user_message, ctx.messages)
    if not said.asks_to_book:
        return Deny("the employee has not confirmed this booking; ask them first")
    if args.offer_id in said.offers:
        return Allow()
    approval = ctx.approval
    if approval is not None and approval.approved and approval.edited_from is not None:
        # The approver replaced the offer the employee confirmed (the proposed call could only
        # reach them past this rule) by another one: a person chose it, not the model.
        return Allow()
    if not said.offers:
        return Deny("the employee did not say which offer to book; ask them to name the option")
    return Deny(
        f"the employee confirmed {', '.join(said.offers)}, not {args.offer_id}; "
        "book only what they named"
    )


@precondition
def employee_asked_to_cancel(ctx: Ctx, args: Any) -> Decision:
    """The employee must have asked for this cancellation in their latest message."""
    if CANCELLATION_CONFIRMED.search(ctx.latest_user_message):
        return Allow()
    return Deny("the employee has not asked to cancel; ask them first")


def _quote(ctx: Ctx, offer_id: str) -> Offer | None:
    """The offer as the inventory quotes it now, asked once per call (see ``quotes``)."""
    return quote(ctx, ctx.deps.flights, offer_id)


def _approver_chain(ctx: Ctx, price: float) -> tuple[str, ...]:
    """Who may approve ``price`` for the employee: from the org chart, never from the model."""
    org = ctx.deps.org
    return tuple(org.approver_chain(ctx.user, price)) if org and ctx.user else ()


@precondition
def traveller_is_the_employee(ctx: Ctx, args: Any) -> Decision:
    """The traveller is the signed-in employee (never a name the model gives), who must be known."""
    if not ctx.user:
        return Deny("nobody is signed in: a trip is only booked for the employee asking")
    org = ctx.deps.org
    if org is not None and org.employee(ctx.user) is None:
        return Deny(f"{ctx.user} is not an employee in the org chart")
    return Allow()


@precondition
def not_already_booked(ctx: Ctx, args: Any) -> Decision:
    """The employee must not already hold this offer (a cancelled one may be booked again)."""
    held = active_booking(ctx.deps.engine, ctx.user or "", args.offer_id)
    # A retried execution of this very call finds its own booking: that one is returned again.
    if held is None or held.idempotency_key == ctx.idempotency_key:
        return Allow()
    return Deny(f"you already hold booking #{held.id} on this flight")


@precondition
def quote_still_valid(ctx: Ctx, args: Any) -> Decision:
    """The offer must still exist at the quoted price (a new price needs a new confirmation)."""
    offer = _quote(ctx, args.offer_id)
    if offer is None:
        return Deny(f"unknown offer {args.offer_id}")
    if _in_cents(offer.price) != args.price:
        return Deny(f"the price is now {offer.price:.2f} EUR, not {args.price}; search again")
    return Allow()


def _in_cents(price: float) -> Decimal:
    """The inventory's fare (a float) as the exact amount in cents it stands for: 640.1 -> 640.10.

    A requested price must equal it exactly: the employee was shown cents, not a range.
    """
    return Decimal(str(price)).quantize(Decimal("0.01"))


@precondition
def under_hard_cap(ctx: Ctx, args: Any) -> Decision:
    """No trip above the hard cap is ever booked, approved or not."""
    offer = _quote(ctx, args.offer_id)
    if offer is None:
        return Deny(f"unknown offer {args.offer_id}")
    above = ctx.deps.policy.above_hard_cap(offer)
    return Deny(above.text) if above else Allow()


@precondition
def in_policy_or_approved(ctx: Ctx, args: Any) -> Decision:
    """Out-of-policy trips need approval from the employee's reporting line for this offer."""
    offer = _quote(ctx, args.offer_id)
    if offer is None:
        return Deny(f"unknown offer {args.offer_id}")
    broken = ctx.deps.policy.broken_rules(offer)
    if not broken:
        return Allow()
    # The chain comes from the org chart (limits by level), never from the model.
    chain = _approver_chain(ctx, offer.price)
    if not chain:
        return Deny(
            f"out of policy and nobody in your reporting line may approve {offer.price:.0f} EUR",
            *broken,
        )
    # The approver may pick another offer (a cheaper fare, a lower cabin): the edited call is
    # checked by these same rules, so it never passes the hard cap or their authority.
    return NeedsApproval(*broken, approvers=chain, editable=("offer_id", "price"))


Preference = Literal["earliest", "cheapest", "fastest", "latest"]
TimeOfDay = Literal["morning", "afternoon", "evening"]
HOURS: dict[str, tuple[int, int]] = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 24)}
"""Departure hours (local) each part of the day covers."""


@tool(trusted_output=True)  # the contracted inventory and the company's database
def search_flights(
    ctx: Ctx,
    destination: Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
    day: date | None = None,
    origin: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None,
    cabin: Literal["economy", "business"] = "economy",
    when: Annotated[str, Field(max_length=80)] | None = None,
    prefer: Preference = "earliest",
    time_of_day: TimeOfDay | None = None,
    direct_only: bool = False,
) -> list[dict[str, Any]]:
    """Search flights on one day, best first, and say which offers are within the travel policy.

    Show the employee the first three and number them as returned: "option N" means the Nth.

    Args:
        destination: IATA code of the arrival airport.
        day: the departure date, if the employee gave it as a date.
        origin: IATA code of the departure airport, e.g. ZRH; omit it to fly from the
            employee's home airport.
        cabin: economy or business.
        when: the day in the employee's own words ("next Tuesday", "on the 14th",
            "tomorrow"), instead of day: the system reads it against today's date.
        prefer: what comes first: the earliest departure, the cheapest fare, the shortest
            flight, or the latest departure.
        time_of_day: only flights leaving in the morning, afternoon or evening.
        direct_only: only non-stop flights.
    """
    origin = origin or _home_airport(ctx)
    if origin is None:
        raise ModelRetry("no origin given and no home airport on file: ask where they fly from")
    day = _day(ctx, day, when)
    offers = ctx.deps.flights.search(origin, destination, day, cabin)
    if not offers:
        raise ModelRetry(f"no flights between {origin} and {destination}; check the codes")
    if direct_only:
        offers = [o for o in offers if o.stops == 0]
    if time_of_day is not None:
        start, end = HOURS[time_of_day]
        offers = [o for o in offers if start <= int(o.departure[11:13]) < end]
    if not offers:
        wanted = " ".join(filter(None, ["direct" if direct_only else "", time_of_day or ""]))
        raise ModelRetry(f"no {wanted} flights from {origin} to {destination} on {day}")
    ranked = sorted(offers, key=RANKING[prefer], reverse=prefer == "latest")
    return [
        offer.model_dump() | {"policy_issues": ctx.deps.policy.broken_rules(offer)}
        for offer in ranked
    ]


RANKING: dict[str, Callable[[Offer], Any]] = {
    "earliest": lambda o: o.departure,
    "cheapest": lambda o: (o.price, o.departure),
    "fastest": lambda o: (o.duration_hours, o.departure),
    "latest": lambda o: o.departure,  # reversed
}
"""How each preference orders offers (ties: the earlier departure first)."""


def _day(ctx: Ctx, day: date | None, when: str | None) -> date:
    """The departure day: given as a date, or read from the employee's words against today."""
    if day is None and when:
        day = parse_day(when, ctx.deps.now().date())
        if day is None:
            raise ModelRetry(f"cannot tell which day {when!r} is; ask for the date")
    if day is None:
        raise ModelRetry("no day given: ask the employee which day they want to fly")
    return day


def _home_airport(ctx: Ctx) -> str | None:
    """The signed-in employee's home airport, from their profile in the company database."""
    if ctx.deps.org is None or not ctx.user:
        return None
    return home_airport(ctx.deps.engine, ctx.user)


@tool(trusted_output=True)  # the contracted inventory and the company's database
def show_offer(ctx: Ctx, offer_id: str) -> dict[str, Any]:
    """Show one offer as the inventory quotes it now: carrier, times, cabin, fare and its rules.

    Args:
        offer_id: the offer_id from search_flights.
    """
    offer = _quote(ctx, offer_id)
    if offer is None:
        raise ModelRetry(f"unknown offer {offer_id}; search again")
    check = ctx.deps.policy.check(offer)
    return offer.model_dump() | {
        "in_policy": check.in_policy,
        "policy_issues": [v.text for v in check.violations],
    }


@tool(trusted_output=True)  # the contracted inventory and the company's database
def check_policy(ctx: Ctx, offer_id: str) -> dict[str, Any]:
    """Say whether an offer is within the travel policy: every rule it breaks, in words.

    Args:
        offer_id: the offer_id from search_flights.
    """
    offer = _quote(ctx, offer_id)
    if offer is None:
        raise ModelRetry(f"unknown offer {offer_id}; search again")
    check: PolicyCheck = ctx.deps.policy.check(offer)
    approvers = _approver_chain(ctx, offer.price) if check.bookable and not check.in_policy else ()
    return check.model_dump() | {"approvers": list(approvers)}


@tool(
    requires=all_of(
        employee_confirmed,
        traveller_is_the_employee,
        not_already_booked,
        quote_still_valid,
        under_hard_cap,
        in_policy_or_approved,
    ),
    side_effects=True,
)
def book_flight(ctx: Ctx, offer_id: str, price: Decimal) -> dict[str, Any]:
    """Book an offer for the employee at the price they were shown.

    Args:
        offer_id: the offer_id from search_flights.
        price: the price in EUR shown to the employee; the offer is re-quoted and must match.
    """
    offer = _quote(ctx, offer_id)  # the very quote the preconditions judged
    assert offer is not None  # quote_still_valid has checked it
    ledger = ctx.deps.ledger
    if ctx.approval is not None and ledger is not None and not ledger.use(ctx, "book_flight"):
        raise ModelRetry("this approval has already been used by another booking")
    booking = Booking(
        idempotency_key=ctx.idempotency_key,
        employee=ctx.user or "?",
        offer_id=offer.offer_id,
        flight=offer.flight,
        departure=offer.departure,
        cabin=offer.cabin,
        price=offer.price,
        approved_by=ctx.approval.approver if ctx.approval else None,
    )
    try:
        booking = book_once(ctx.deps.engine, booking)
    except AlreadyBooked as exc:  # a parallel call for the same offer got there first
        raise ModelRetry(str(exc)) from None
    return booking.model_dump(exclude={"idempotency_key"})


@tool(trusted_output=True)  # the contracted inventory and the company's database
def list_my_trips(ctx: Ctx) -> list[dict[str, Any]]:
    """List the employee's booked trips."""
    return [
        b.model_dump(exclude={"idempotency_key"}) for b in trips_of(ctx.deps.engine, ctx.user or "")
    ]


@precondition
def own_trip_not_yet_departed(ctx: Ctx, args: Any) -> Decision:
    """Employees cancel only their own trips, and not within 24 hours of departure."""
    booking = find_booking(ctx.deps.engine, args.booking_id)
    if booking is None or booking.employee != ctx.user:
        # The same answer for "not yours" and "does not exist": no probing of others' trips.
        return Deny(f"you have no booking {args.booking_id}")
    if booking.status == "cancelled":
        return Deny(f"booking {args.booking_id} is already cancelled")
    if datetime.fromisoformat(booking.departure) - ctx.deps.now() < timedelta(hours=24):
        return Deny("trips departing within 24 hours cannot be cancelled here; call the desk")
    return Allow()


@tool(requires=all_of(employee_asked_to_cancel, own_trip_not_yet_departed), side_effects=True)
def cancel_trip(ctx: Ctx, booking_id: int) -> dict[str, Any]:
    """Cancel one of the employee's booked trips.

    Args:
        booking_id: the booking number from list_my_trips.
    """
    return cancel(ctx.deps.engine, booking_id).model_dump(exclude={"idempotency_key"})


TOOLS = [search_flights, show_offer, check_policy, book_flight, list_my_trips, cancel_trip]
