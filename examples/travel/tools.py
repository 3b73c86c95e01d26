"""The travel agent's tools and the preconditions that guard booking."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
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
from examples.travel.inventory import EmbeddedInventory, FlightProvider
from examples.travel.policy import POLICY, TravelPolicy
from examples.travel.store import Booking, book_once, trips_of


@dataclass(frozen=True, kw_only=True)
class TravelDeps:
    engine: Engine
    flights: FlightProvider = field(default_factory=EmbeddedInventory)
    policy: TravelPolicy = POLICY
    managers: dict[str, str] = field(default_factory=dict[str, str])
    """employee -> manager: who approves an out-of-policy trip."""


Ctx = RunContext[TravelDeps]
CONFIRMATION = re.compile(r"\b(book|yes|confirm|go ahead)\b", re.IGNORECASE)


@precondition
def employee_confirmed(ctx: Ctx, args: Any) -> Decision:
    """The employee must have confirmed the booking in their latest message."""
    for message in reversed(ctx.messages):
        texts = [b.text for b in message.content if b.type == "text"]
        if message.role == "user" and texts:
            if CONFIRMATION.search(" ".join(texts)):
                return Allow()
            break
    return Deny("the employee has not confirmed this booking; ask them first")


@precondition
def quote_still_valid(ctx: Ctx, args: Any) -> Decision:
    """The offer must still exist at the quoted price (a new price needs a new confirmation)."""
    offer = ctx.deps.flights.find(args.offer_id)
    if offer is None:
        return Deny(f"unknown offer {args.offer_id}")
    if abs(offer.price - args.price) > 0.005:
        return Deny(f"the price is now {offer.price:.2f} EUR, not {args.price:.2f}; search again")
    return Allow()


@precondition
def under_hard_cap(ctx: Ctx, args: Any) -> Decision:
    """No trip above the hard cap is ever booked, approved or not."""
    offer = ctx.deps.flights.find(args.offer_id)
    if offer is None:
        return Deny(f"unknown offer {args.offer_id}")
    cap = ctx.deps.policy.hard_cap
    return (
        Deny(f"{offer.price:.0f} EUR is above the hard cap of {cap:.0f} EUR")
        if (offer.price > cap)
        else Allow()
    )


@precondition
def in_policy_or_approved(ctx: Ctx, args: Any) -> Decision:
    """Out-of-policy trips need the employee's manager's approval for exactly this offer."""
    offer = ctx.deps.flights.find(args.offer_id)
    if offer is None:
        return Deny(f"unknown offer {args.offer_id}")
    broken = ctx.deps.policy.broken_rules(offer)
    if not broken:
        return Allow()
    manager = ctx.deps.managers.get(ctx.user or "")
    if manager is None:
        return Deny("out of policy and no manager on file to approve it", *broken)
    return NeedsApproval(*broken, approvers=[manager])


@tool
def search_flights(
    ctx: Ctx,
    origin: Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
    destination: Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
    day: date,
    cabin: Literal["economy", "business"] = "economy",
) -> list[dict[str, Any]]:
    """Search flights on one day and say which offers are within the travel policy.

    Args:
        origin: IATA code of the departure airport, e.g. ZRH.
        destination: IATA code of the arrival airport.
        day: the departure date.
        cabin: economy or business.
    """
    offers = ctx.deps.flights.search(origin, destination, day, cabin)
    if not offers:
        raise ModelRetry(f"no flights between {origin} and {destination}; check the codes")
    return [
        offer.model_dump() | {"policy_issues": ctx.deps.policy.broken_rules(offer)}
        for offer in offers
    ]


@tool(
    requires=all_of(employee_confirmed, quote_still_valid, under_hard_cap, in_policy_or_approved),
    side_effects=True,
)
def book_flight(ctx: Ctx, offer_id: str, price: float) -> dict[str, Any]:
    """Book an offer for the employee at the price they were shown.

    Args:
        offer_id: the offer_id from search_flights.
        price: the price in EUR shown to the employee; the offer is re-quoted and must match.
    """
    offer = ctx.deps.flights.find(offer_id)
    assert offer is not None  # quote_still_valid has checked it
    booking = book_once(
        ctx.deps.engine,
        Booking(
            idempotency_key=ctx.idempotency_key,
            employee=ctx.user or "?",
            offer_id=offer.offer_id,
            flight=offer.flight,
            departure=offer.departure,
            cabin=offer.cabin,
            price=offer.price,
            approved_by=ctx.approval.approver if ctx.approval else None,
        ),
    )
    return booking.model_dump(exclude={"idempotency_key"})


@tool
def list_my_trips(ctx: Ctx) -> list[dict[str, Any]]:
    """List the employee's booked trips."""
    return [
        b.model_dump(exclude={"idempotency_key"}) for b in trips_of(ctx.deps.engine, ctx.user or "")
    ]


TOOLS = [search_flights, book_flight, list_my_trips]
