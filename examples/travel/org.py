"""The travel agent's company: its org chart, and how its approvals are shown and recorded.

Who approves an out-of-policy trip is not a dict in the code any more: it is the org chart in
the company database (``agentflow.approvals.OrgChart``). A fresh database gets the demo company
below; a real one loads its own (``agentflow approvals org load org.json``), with Slack user ids.

    erin (vp) ── dana (director) ── bob (manager) ─┬─ alice
                                                   └─ carol

Managers approve out-of-policy trips up to 2 500 EUR, directors up to 10 000 (the hard cap of
the travel policy is lower still, so in practice a director is the last word).

Each demo person also has a travel profile (``DEMO_PROFILES``: home airport, office). A company
of realistic size comes from ``python -m examples.travel.seed``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine

from agentflow import ApprovalRequest, canonical_json
from agentflow.approvals import ApprovalLedger, EmployeeSpec, OrgChart, OrgChartSpec, schema_version
from agentflow.approvals.summary import Summariser, Summary
from examples.travel.company import EmployeeProfile, record_policy, save_profiles
from examples.travel.inventory import EmbeddedInventory, FlightProvider
from examples.travel.policy import POLICY, TravelPolicy
from examples.travel.store import prepare_store
from examples.travel.tools import book_flight

DEMO_ORG = OrgChartSpec(
    employees=(
        EmployeeSpec(id="erin", name="Erin Okafor", level="vp"),
        EmployeeSpec(id="dana", name="Dana Weber", manager="erin", level="director"),
        EmployeeSpec(id="bob", name="Bob Meier", manager="dana", level="manager"),
        EmployeeSpec(id="alice", name="Alice Keller", manager="bob"),
        EmployeeSpec(id="carol", name="Carol Rossi", manager="bob"),
    ),
    limits={"manager": 2_500, "director": 10_000, "vp": 50_000},
)
DEMO_PROFILES = (
    EmployeeProfile(
        employee_id="erin",
        home_airport="ZRH",
        office="Zurich",
        department="Executive",
        cost_centre="EXE-ZRH",
    ),
    EmployeeProfile(
        employee_id="dana",
        home_airport="FRA",
        office="Frankfurt",
        department="Engineering",
        cost_centre="ENG-FRA",
    ),
    EmployeeProfile(
        employee_id="bob",
        home_airport="ZRH",
        office="Zurich",
        department="Engineering",
        cost_centre="ENG-ZRH",
    ),
    EmployeeProfile(
        employee_id="alice",
        home_airport="ZRH",
        office="Zurich",
        department="Engineering",
        cost_centre="ENG-ZRH",
    ),
    EmployeeProfile(
        employee_id="carol",
        home_airport="ZRH",
        office="Zurich",
        department="Engineering",
        cost_centre="ENG-ZRH",
    ),
)
"""Where the demo people work and fly from (the travel side of ``DEMO_ORG``)."""


def open_org(engine: Engine, spec: OrgChartSpec = DEMO_ORG) -> OrgChart:
    """The org chart in ``engine``'s database; an empty one is given ``spec`` first."""
    org = OrgChart(prepare_store(engine))  # the profiles' table comes from the migrations too
    if spec.employees and org.employee(spec.employees[0].id) is None:
        org.load(spec)
        if spec is DEMO_ORG:
            save_profiles(engine, DEMO_PROFILES)
    return org


def policy_version(policy: TravelPolicy = POLICY) -> str:
    """Names the policy an approval was asked under, for the approval record."""
    digest = hashlib.sha256(canonical_json(dataclasses.asdict(policy)).encode()).hexdigest()
    return f"travel-policy:{digest[:12]}"


def open_ledger(engine: Engine, policy: TravelPolicy = POLICY) -> ApprovalLedger:
    """The approval ledger, recording the policy and the booking tool's schema version.

    The policy's parameters are recorded under its version too (``company.policy_record``), so
    the version an approval carries can be traced to the rules it was asked under.
    """
    record_policy(prepare_store(engine), policy_version(policy), policy)
    return ApprovalLedger(
        engine,
        policy_version=policy_version(policy),
        schema_versions={book_flight.name: schema_version(book_flight)},
    )


def trip_summary(flights: FlightProvider | None = None) -> Summariser:
    """Shows a booking request as a trip: flight, route, times, cabin and the price asked."""
    provider = flights or EmbeddedInventory()

    def summarise(request: ApprovalRequest) -> Summary:
        arguments: dict[str, Any] = request.arguments
        offer = provider.find(str(arguments.get("offer_id", "")))
        price = arguments.get("price")
        fields: list[tuple[str, str]] = []
        if offer is not None:
            fields += [
                ("Flight", f"{offer.flight} {offer.origin} → {offer.destination}"),
                ("Departure", offer.departure.replace("T", " ")),
                ("Cabin", f"{offer.cabin} ({offer.duration_hours:.1f} h)"),
            ]
        else:
            fields.append(("Offer", str(arguments.get("offer_id"))))
        if (shown := _price(price)) is not None:
            fields.append(("Price", shown))
        return Summary(title=f"Trip for {request.requester or 'an employee'}", fields=tuple(fields))

    return summarise


def _price(value: Any) -> str | None:
    """The price asked, as people read it (``2,400.00 EUR``); arguments carry it as a string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
        return f"{amount.quantize(Decimal('0.01')):,} EUR" if amount.is_finite() else None
    except InvalidOperation:  # not a number, or too large to show in cents
        return None
