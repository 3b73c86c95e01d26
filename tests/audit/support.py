"""A small travel agent for the audit tests: search, then book, with a fare policy in code.

The model is a stateless function of the transcript (so a worker replaying history gets the same
answers): it searches for the destination the employee names, books the cheapest offer with the
card number the employee typed, and reports. Fares above 1000 need the manager's approval (bob,
then his manager dana on escalation); above 5000 they are refused; the traveller must be on
the employee list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agentflow import (
    Agent,
    Allow,
    ApprovalDecision,
    ApprovalRequest,
    Deny,
    NeedsApproval,
    RunContext,
    precondition,
    tool,
)
from agentflow.audit import AuditHandler, configure_tracing
from agentflow.messages import ModelRequest, ModelResponse, TextBlock, ToolResultBlock, Usage
from agentflow.preconditions import Decision
from agentflow.testing import FunctionModel, text_response, tool_call

CARD = "4111 1111 1111 1111"
MESSAGE = (
    f"Book me the cheapest flight to Zurich on Friday, pay with my card {CARD}, "
    "and mail the ticket to alice@example.com"
)
FARES = {"Zurich": ("LX14", 2400.0), "Geneva": ("LX20", 640.0), "Tokyo": ("LX160", 9100.0)}
USAGE = Usage(input_tokens=120, output_tokens=30, cache_read_input_tokens=100)


@dataclass
class Bookings:
    """The booking system: honours the idempotency key, as a retried activity must."""

    made: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])


@precondition
def within_fare_policy(ctx: RunContext[Bookings], args: Any) -> Decision:
    """Fares above 1000 need the manager's approval; above 5000 they are never booked."""
    if args.price > 5000:
        return Deny(f"fare {args.price:.0f} is above the hard cap of 5000")
    if args.price > 1000:
        return NeedsApproval(
            f"fare {args.price:.0f} is above the 1000 cap", approvers=["bob", "dana"]
        )
    return Allow()


@precondition
def known_traveller(ctx: RunContext[Bookings], args: Any) -> Decision:
    """Only employees can be booked."""
    return Allow() if ctx.user in ("alice", "carol") else Deny(f"{ctx.user} is not an employee")


@tool
def search_flights(destination: str) -> list[dict[str, Any]]:
    """Find flights to a destination."""
    flight, price = FARES[destination]
    return [{"flight_id": flight, "destination": destination, "price": price}]


@tool(requires=within_fare_policy & known_traveller, side_effects=True)
def book_flight(
    ctx: RunContext[Bookings], flight_id: str, price: float, card_number: str
) -> dict[str, Any]:
    """Book a flight, paid with the employee's card."""
    booking = ctx.deps.made.setdefault(
        ctx.idempotency_key,
        {"booking": f"BK{len(ctx.deps.made) + 1}", "flight_id": flight_id, "price": price},
    )
    return {"booking": booking["booking"], "card_last4": card_number[-4:]}


def plan(request: ModelRequest) -> ModelResponse:
    """Search, book the cheapest offer, report: decided from the transcript alone."""
    first = request.messages[0]
    text = next(b.text for b in first.content if isinstance(b, TextBlock))
    results = [b for b in request.messages[-1].content if isinstance(b, ToolResultBlock)]
    if not results:
        destination = next((d for d in FARES if d in text), None)
        if destination is None:
            return text_response("Where to?", usage=USAGE)
        return _usage(tool_call("search_flights", destination=destination, id="call-search"))
    result = results[0]
    if result.tool_use_id == "call-search" and not result.is_error:
        offer = json.loads(result.content)[0]
        card = re.search(r"\d{4}(?: \d{4}){3}", text)
        return _usage(
            tool_call(
                "book_flight",
                flight_id=offer["flight_id"],
                price=offer["price"],
                card_number=card.group(0).replace(" ", "") if card else "",
                id="call-book",
            )
        )
    prefix = "Could not book: " if result.is_error else "Booked: "
    return text_response(prefix + result.content, usage=USAGE)


def _usage(response: ModelResponse) -> ModelResponse:
    return ModelResponse(
        content=response.content, stop_reason=response.stop_reason, usage=USAGE, model=""
    )


def travel_model() -> FunctionModel:
    return FunctionModel(plan, name="travel-planner")


def travel_agent(name: str, *, model: Any = None, **kwargs: Any) -> Agent[Bookings]:
    return Agent(
        model or travel_model(),
        tools=[search_flights, book_flight],
        system="You book business trips.",
        name=name,
        **kwargs,
    )


async def approve(request: ApprovalRequest) -> ApprovalDecision:
    return request.decide("approved", approver="bob")


async def converse(database_url: str) -> str:
    """One audited conversation (14 records, two of them intents) appended to ``database_url``."""
    tracing = configure_tracing(database_url=database_url, otlp=False)
    model = travel_model()
    agent = travel_agent("travel", model=model, event_handlers=[AuditHandler(tracing, model=model)])
    result = await agent.run(MESSAGE, deps=Bookings(), user="alice", approvals=approve)
    tracing.shutdown()
    return result.conversation_id
