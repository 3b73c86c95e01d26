"""A booking agent whose approver may pick another flight or a cheaper fare.

Fares above 1000 need bob; above 3000, when the shop has an org chart, the requester's manager
and then the nearest senior who may approve the fare (ordered stages); above 5000 nothing books
them, edited or not. The tool uses its
approval through the ledger, so the ledger holds the proposed, approved and executed calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from agentflow import Agent, Allow, Deny, ModelRetry, NeedsApproval, RunContext, precondition, tool
from agentflow.approvals import ApprovalLedger, OrgChart
from agentflow.preconditions import Decision
from agentflow.testing import FunctionModel
from tests.temporal.support import APPROVAL_ABOVE, HARD_CAP, Booking, engine_for, plan

STAGED_ABOVE = 3_000.0


@dataclass(frozen=True)
class Shop:
    engine: Engine
    ledger: ApprovalLedger
    org: OrgChart | None = None


def shop_at(path: Path, org: bool = False) -> Shop:
    engine = engine_for(path)
    return Shop(engine, ApprovalLedger(engine), OrgChart(engine) if org else None)


@precondition
def within_budget(ctx: RunContext[Shop], args: Any) -> Decision:
    """Prices above 1000 need bob's approval, who may change the flight or the price; above
    5000 are never booked."""
    if args.price > HARD_CAP:
        return Deny(f"price {args.price} is above the hard cap of {HARD_CAP}")
    org = ctx.deps.org
    if args.price > STAGED_ABOVE and org is not None:
        stages = org.approval_stages(ctx.user or "", args.price)
        if not stages:
            return Deny(f"nobody in your reporting line may approve {args.price}")
        return NeedsApproval(f"price {args.price} is above {STAGED_ABOVE}", stages=stages)
    if args.price > APPROVAL_ABOVE:
        return NeedsApproval(
            f"price {args.price} is above {APPROVAL_ABOVE}",
            approvers=["bob"],
            editable=("flight_id", "price"),
        )
    return Allow()


@tool(requires=within_budget, side_effects=True)
def book_flight(ctx: RunContext[Shop], flight_id: str, price: float) -> dict[str, Any]:
    """Book a flight for the employee."""
    if ctx.approval is not None and not ctx.deps.ledger.use(ctx, "book_flight"):
        raise ModelRetry("this approval has already been used")
    with Session(ctx.deps.engine) as session:
        booking = session.exec(
            select(Booking).where(Booking.idempotency_key == ctx.idempotency_key)
        ).first()
        if booking is None:
            booking = Booking(
                idempotency_key=ctx.idempotency_key,
                flight_id=flight_id,
                price=price,
                traveller=ctx.user or "?",
            )
            session.add(booking)
            session.commit()
    return {"flight_id": flight_id, "price": price}


def make_agent(name: str) -> Agent[Shop]:
    return Agent(FunctionModel(plan), tools=[book_flight], system="You book flights.", name=name)
