"""The tutorial's travel agent: typed tools, preconditions and an approval rule.

Run it to see what the model is told about each tool: the schema comes from the signatures.
"""

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import create_engine

from agentflow import (
    Agent,
    Allow,
    Decision,
    Deny,
    Model,
    NeedsApproval,
    RunContext,
    all_of,
    precondition,
    tool,
)
from agentflow.approvals import EmployeeSpec, OrgChart, OrgChartSpec

# --8<-- [start:tools]
IATA = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]  # an airport code such as ZRH


class Offer(BaseModel):
    offer_id: str
    route: str
    cabin: Literal["economy", "business"]
    hours: float
    price: float


OFFERS = [
    Offer(offer_id="LX318-Y", route="ZRH-LHR", cabin="economy", hours=1.7, price=210.0),
    Offer(offer_id="LX318-J", route="ZRH-LHR", cabin="business", hours=1.7, price=640.0),
    Offer(offer_id="LX38-J", route="ZRH-SFO", cabin="business", hours=12.3, price=7_900.0),
]


@dataclass
class Company:
    """What the tools work on; the agent gets it as ``ctx.deps``."""

    org: OrgChart
    bookings: dict[str, str] = field(default_factory=dict[str, str])
    """Idempotency key -> offer id: a retried call finds its booking instead of booking twice."""


Ctx = RunContext[Company]


@tool
def search_flights(
    ctx: Ctx, origin: IATA, destination: IATA, cabin: Literal["economy", "business"] = "economy"
) -> list[Offer]:
    """Search flights between two airports.

    Args:
        origin: where the employee flies from.
        destination: where the employee flies to.
        cabin: economy or business.
    """
    return [o for o in OFFERS if o.route == f"{origin}-{destination}" and o.cabin == cabin]


# --8<-- [end:tools]


def find(offer_id: str) -> Offer | None:
    return next((o for o in OFFERS if o.offer_id == offer_id), None)


# --8<-- [start:preconditions]
HARD_CAP = 6_000.0


@precondition
def known_offer(ctx: Ctx, args: Any) -> Decision:
    """Only offers from a search can be booked: the model cannot make up a flight or a price."""
    return Allow() if find(args.offer_id) else Deny(f"unknown offer {args.offer_id}")


@precondition
def under_hard_cap(ctx: Ctx, args: Any) -> Decision:
    """Nothing above the hard cap is ever booked, approved or not."""
    offer = find(args.offer_id)
    if offer is not None and offer.price > HARD_CAP:
        return Deny(f"{offer.price:.0f} EUR is above the hard cap of {HARD_CAP:.0f} EUR")
    return Allow()


# --8<-- [end:preconditions]


# --8<-- [start:approval]
@precondition
def in_policy_or_approved(ctx: Ctx, args: Any) -> Decision:
    """Business class on a flight under 6 hours needs someone in the employee's reporting line."""
    offer = find(args.offer_id)
    if offer is None or offer.cabin == "economy" or offer.hours >= 6:
        return Allow()
    # Who may approve comes from the org chart, by amount; never from the model.
    chain = ctx.deps.org.approver_chain(ctx.user, offer.price) if ctx.user else ()
    if not chain:
        return Deny("out of policy, and nobody in your reporting line may approve it")
    return NeedsApproval(f"business class on a {offer.hours:.1f} h flight", approvers=chain)


@tool(requires=all_of(known_offer, under_hard_cap, in_policy_or_approved), side_effects=True)
def book_flight(ctx: Ctx, offer_id: str) -> str:
    """Book an offer from search_flights for the employee.

    Args:
        offer_id: the offer_id of the chosen offer.
    """
    ctx.deps.bookings.setdefault(ctx.idempotency_key, offer_id)
    approved = f", approved by {ctx.approval.approver}" if ctx.approval else ""
    return f"booked {offer_id} for {ctx.user}{approved}"


# --8<-- [end:approval]


# --8<-- [start:agent]
COMPANY = OrgChartSpec(
    employees=(
        EmployeeSpec(id="dana", name="Dana Weber", level="director"),
        EmployeeSpec(id="bob", name="Bob Meier", manager="dana", level="manager"),
        EmployeeSpec(id="alice", name="Alice Keller", manager="bob"),
    ),
    limits={"manager": 2_500, "director": 10_000},
)


def open_company(database_url: str) -> Company:
    """The company's org chart in a database (created and filled on first use)."""
    org = OrgChart(create_engine(database_url))
    if org.employee("alice") is None:
        org.load(COMPANY)
    return Company(org=org)


def travel_agent(model: Model) -> Agent[Company]:
    return Agent(
        model,
        tools=[search_flights, book_flight],
        system="You book business trips for the employee you talk to.",
        name="tutorial-travel",
    )


# --8<-- [end:agent]

if __name__ == "__main__":
    for t in (search_flights, book_flight):
        print(t.name, json.dumps(t.definition.input_schema["properties"]))
    print(book_flight.description)
