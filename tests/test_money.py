"""Money as ``Decimal``: exact in tool bodies, canonical in digests, never NaN or infinite."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import create_engine

from agentflow import Agent, Allow, Deny, RunContext, precondition, tool
from agentflow.binding import call_digest, canonical_arguments
from agentflow.exceptions import InvalidArguments
from agentflow.messages import ToolResultBlock
from agentflow.preconditions import Decision
from agentflow.testing import ScriptedModel, tool_call
from examples.travel.policy import Offer
from examples.travel.tools import TravelDeps, book_flight, quote_still_valid


@tool
def refund(order: str, amount: Decimal) -> Decimal:
    """Refund an order."""
    return amount


def digest_of(raw: dict[str, Any]) -> str:
    return call_digest(refund.name, canonical_arguments(refund.validate(raw)))


@pytest.mark.parametrize("amount", ["2613.00", 2613, 2613.0, "2.613E+3", "2613.000000"])
def test_one_amount_however_written_is_one_digest(amount: Any) -> None:
    assert digest_of({"order": "A-17", "amount": amount}) == digest_of(
        {"order": "A-17", "amount": "2613"}
    )
    assert digest_of({"order": "A-17", "amount": "2613.01"}) != digest_of(
        {"order": "A-17", "amount": amount}
    )


@pytest.mark.parametrize(
    ("amount", "canonical"),
    [
        ("2613.00", "2613"),
        ("2.50", "2.5"),
        ("0.00", "0"),
        ("-0", "0"),
        ("-0.00E+3", "0"),
        ("1E+3", "1000"),
        ("0.050", "0.05"),
        ("-12.3400", "-12.34"),
        ("1.5E-7", "0.00000015"),
        ("123456789012345678901234567890.50", "123456789012345678901234567890.5"),
    ],
)
def test_decimals_are_written_by_their_value_alone(amount: str, canonical: str) -> None:
    args = refund.validate({"order": "A-17", "amount": amount})
    assert canonical_arguments(args) == {"order": "A-17", "amount": canonical}


class Line(BaseModel):
    sku: str
    price: Decimal
    discount: Decimal | None = None


class Invoice(BaseModel):
    lines: list[Line]
    totals: dict[str, Decimal]
    taxes: tuple[Decimal, ...] = ()
    day: date


def test_nested_decimals_are_canonical_and_everything_else_is_the_json_dump() -> None:
    invoice = Invoice(
        lines=[Line(sku="A", price=Decimal("10.50")), Line(sku="B", price=Decimal("2E+1"))],
        totals={"net": Decimal("30.500"), "gross": Decimal("36.60")},
        taxes=(Decimal("6.10"),),
        day=date(2026, 12, 1),
    )
    assert canonical_arguments(invoice) == {
        "lines": [
            {"sku": "A", "price": "10.5", "discount": None},
            {"sku": "B", "price": "20", "discount": None},
        ],
        "totals": {"net": "30.5", "gross": "36.6"},
        "taxes": ["6.1"],
        "day": "2026-12-01",
    }


def test_a_model_without_decimals_is_dumped_as_it_is() -> None:
    class Search(BaseModel):
        origin: str
        day: date
        budget: float
        stops: list[int]

    args = Search(origin="ZRH", day=date(2026, 12, 1), budget=1200.0, stops=[0, 1])
    assert canonical_arguments(args) == args.model_dump(mode="json")


async def test_the_body_gets_the_exact_decimal_it_was_sent() -> None:
    args = refund.validate('{"order": "A-17", "amount": "2613.10"}')
    paid = await refund.call(RunContext(deps=None), args)
    assert isinstance(paid, Decimal) and paid == Decimal("2613.1")
    from_float = await refund.call(
        RunContext(deps=None), refund.validate({"order": "A", "amount": 0.1})
    )
    assert from_float == Decimal("0.1")  # the float as written, not its binary approximation


async def test_a_nan_amount_reaches_neither_the_rule_nor_the_body() -> None:
    judged: list[Any] = []
    paid: list[Any] = []

    @precondition
    def under_cap(ctx: RunContext[None], args: Any) -> Decision:
        """Refunds above 100 EUR are refused."""
        judged.append(args.amount)
        return Deny("above the cap") if args.amount > 100 else Allow()

    @tool(requires=under_cap, side_effects=True)
    def pay(order: str, amount: float) -> str:
        """Refund an order."""
        paid.append(amount)
        return "refunded"

    turns = [tool_call("pay", order="A-17", amount=value) for value in ("NaN", float("inf"))]
    result = await Agent(ScriptedModel([*turns, "gave up"]), tools=[pay]).run("refund A-17")
    errors = [
        block
        for message in result.messages
        for block in message.content
        if isinstance(block, ToolResultBlock)
    ]
    assert [e.is_error for e in errors] == [True, True]
    assert all("amount: Input should be a finite number" in e.content for e in errors)
    assert (judged, paid) == ([], [])


class OneOffer:
    """A flight inventory quoting a single offer."""

    def __init__(self, price: float) -> None:
        self.offer = Offer(
            offer_id="LX318-Y",
            flight="LX318",
            origin="ZRH",
            destination="LHR",
            departure="2026-12-14T07:00",
            arrival="2026-12-14T07:45",
            duration_hours=1.75,
            cabin="economy",
            price=price,
        )

    def search(self, origin: str, destination: str, day: date, cabin: str) -> list[Offer]:
        return [self.offer]

    def find(self, offer_id: str) -> Offer | None:
        return self.offer if offer_id == self.offer.offer_id else None


@pytest.mark.parametrize(
    ("asked", "allowed"),
    [
        ("640.10", True),
        (640.1, True),
        ("640.1000", True),
        ("640.104", False),  # within the old half-cent tolerance, not the price shown
        ("640.11", False),
        ("640", False),
    ],
)
async def test_travel_books_only_at_the_quoted_price_to_the_cent(asked: Any, allowed: bool) -> None:
    deps = TravelDeps(engine=create_engine("sqlite://"), flights=OneOffer(640.1))
    args = book_flight.validate({"offer_id": "LX318-Y", "price": asked})
    evaluation = await quote_still_valid.evaluate(RunContext(deps=deps), args)
    assert isinstance(evaluation.decision, Allow) is allowed, evaluation.decision


@pytest.mark.parametrize("asked", ["NaN", "Infinity", float("nan"), "-inf"])
def test_travel_refuses_a_non_finite_price_before_any_rule(asked: Any) -> None:
    with pytest.raises(InvalidArguments, match="price: Input should be a finite number"):
        book_flight.validate({"offer_id": "LX318-Y", "price": asked})
