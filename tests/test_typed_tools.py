"""Tools that take one pydantic model, or a JSON schema, as their arguments."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, RootModel, computed_field

from agentflow import (
    Agent,
    Allow,
    Decision,
    Deny,
    NeedsApproval,
    RunContext,
    Tool,
    ToolDefinitionError,
    ToolResultBlock,
    precondition,
    tool,
)
from agentflow.binding import call_digest, canonical_arguments
from agentflow.exceptions import InvalidArguments
from agentflow.execution import approve_with_edits, invoke_tool
from agentflow.loop import ToolCall
from agentflow.outcomes import ToolDenied, ToolNeedsApproval, ToolReturned
from agentflow.testing import ScriptedModel, text_response, tool_call


class BookingRequest(BaseModel):
    """What booking a flight takes."""

    model_config = ConfigDict(extra="forbid")

    offer_id: str = Field(description="the offer_id from a search")
    price: Decimal
    cabin: Literal["economy", "business"] = "economy"


RAN: list[BookingRequest] = []


@precondition
def under_cap(ctx: RunContext[Any], args: BookingRequest) -> Decision:
    """Nothing above 1000 EUR."""
    return Allow() if args.price <= 1000 else Deny(f"{args.price} EUR is above the cap")


@precondition
def business_needs_bob(ctx: RunContext[Any], args: BookingRequest) -> Decision:
    """Business class needs bob."""
    if args.cabin == "business":
        return NeedsApproval("business class", approvers=["bob"], editable=["cabin"])
    return Allow()


@tool(args_model=BookingRequest, requires=under_cap & business_needs_bob, side_effects=True)
def book(request: BookingRequest, ctx: RunContext[None]) -> str:
    """Book an offer."""
    RAN.append(request)
    return f"booked {request.offer_id} for {ctx.user}"


def call(name: str, arguments: dict[str, Any], id: str = "c1") -> ToolCall:
    return ToolCall(id=id, name=name, arguments=arguments, digest="")


def test_the_schema_is_the_models_own_flat_schema() -> None:
    assert book.args_model is BookingRequest
    assert book.definition.input_schema == {
        "description": "What booking a flight takes.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "offer_id": {"type": "string", "description": "the offer_id from a search"},
            "price": {"anyOf": [{"type": "number"}, {"type": "string"}]},
            "cabin": {"enum": ["economy", "business"], "type": "string", "default": "economy"},
        },
        "required": ["offer_id", "price"],
    }
    assert book.description.startswith("Book an offer.\n\nPreconditions")
    assert "- Nothing above 1000 EUR." in book.description


async def test_the_body_and_the_rules_receive_the_model_instance() -> None:
    RAN.clear()
    seen: list[object] = []

    @precondition
    def record(ctx: RunContext[Any], args: BookingRequest) -> Decision:
        seen.append(args)
        return Allow()

    outcome = await invoke_tool(
        book.requiring(record),
        RunContext(deps=None, user="alice"),
        call("book", {"offer_id": "LX318-Y", "price": "210.00"}),
    )
    assert isinstance(outcome, ToolReturned) and outcome.content == "booked LX318-Y for alice"
    assert [BookingRequest(offer_id="LX318-Y", price=Decimal("210.00"))] == RAN
    assert seen == RAN and type(seen[0]) is BookingRequest


async def test_invalid_arguments_go_back_to_the_model_and_nothing_runs() -> None:
    RAN.clear()
    model = ScriptedModel(
        [
            tool_call("book", offer_id="LX318-Y", price="cheap"),
            tool_call("book", offer_id="LX318-Y", price=210, upgrade=True),
            tool_call("book", offer_id="LX318-Y", price=5000),
            text_response("Nothing booked."),
        ]
    )
    result = await Agent(model, tools=[book]).run("book it", user="alice")
    answers = [model.requests[i].messages[-1].content[0] for i in (1, 2, 3)]
    assert all(isinstance(a, ToolResultBlock) and a.is_error for a in answers)
    texts = [a.content for a in answers if isinstance(a, ToolResultBlock)]
    assert "- price: Input should be a valid decimal (got 'cheap')" in texts[0]
    assert "- upgrade: Extra inputs are not permitted" in texts[1]
    assert "5000 EUR is above the cap" in texts[2]
    assert result.output == "Nothing booked." and RAN == []


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-inf", float("nan"), math.inf])
def test_non_finite_numbers_are_refused_even_if_the_model_allows_them(bad: object) -> None:
    class Loose(BaseModel):  # pydantic's default config lets NaN and infinities through
        amount: float
        nested: dict[str, Decimal] = {}

    pay = Tool.from_model("pay", Loose, lambda args: "paid")
    assert math.isnan(Loose.model_validate({"amount": "NaN"}).amount)
    with pytest.raises(InvalidArguments, match="finite"):
        pay.validate({"amount": bad})
    with pytest.raises(InvalidArguments, match="finite"):
        pay.validate({"amount": 1, "nested": {"x": bad}})


async def test_an_approval_binds_to_the_digest_of_the_model_arguments() -> None:
    RAN.clear()
    arguments = {"offer_id": "LX318-J", "price": "640.00", "cabin": "business"}
    asked = await invoke_tool(book, RunContext(deps=None, user="alice"), call("book", arguments))
    assert isinstance(asked, ToolNeedsApproval)
    request = asked.request
    assert request.digest == call_digest("book", canonical_arguments(book.validate(arguments)))
    approval = request.approve("bob")

    other = {**arguments, "price": "990"}
    ctx = RunContext(deps=None, user="alice", approval=approval, tool_call_id="c1")
    refused = await invoke_tool(book, ctx, call("book", other))
    assert isinstance(refused, ToolDenied) and RAN == []
    assert "different arguments" in refused.reasons[0]

    ran = await invoke_tool(book, ctx, call("book", {**arguments, "price": "640"}))
    assert isinstance(ran, ToolReturned)  # 640 and 640.00 are one amount, one digest
    assert [BookingRequest(offer_id="LX318-J", price=Decimal("640"), cabin="business")] == RAN

    edit = RunContext(deps=None, user="alice", tool_call_id="c1")
    edited = await approve_with_edits(book, edit, request, {"cabin": "economy"}, approval)
    assert edited.arguments == {"offer_id": "LX318-J", "price": "640", "cabin": "economy"}


async def test_two_tools_sharing_a_model_keep_their_own_calls_and_approvals() -> None:
    held: list[BookingRequest] = []

    @tool(args_model=BookingRequest, requires=business_needs_bob, side_effects=True)
    def hold(request: BookingRequest) -> str:
        """Hold an offer for a day."""
        held.append(request)
        return "held"

    assert hold.definition.input_schema == book.definition.input_schema
    assert hold.contract == book.contract
    arguments = {"offer_id": "LX318-J", "price": "640", "cabin": "business"}
    asked = await invoke_tool(book, RunContext(deps=None, user="alice"), call("book", arguments))
    assert isinstance(asked, ToolNeedsApproval)
    approval = asked.request.approve("bob")
    ctx = RunContext(deps=None, user="alice", approval=approval, tool_call_id="c1")
    outcome = await invoke_tool(hold, ctx, call("hold", arguments))
    assert isinstance(outcome, ToolDenied) and held == []
    assert "different arguments" in outcome.reasons[0]
    # The model validated for one tool is handed to the other's body only after its own rules.
    model = ScriptedModel(
        [tool_call("hold", offer_id="X", price=1), tool_call("book", offer_id="Y", price=2), "ok"]
    )
    RAN.clear()
    await Agent(model, tools=[book, hold]).run("hold X, book Y", user="alice")
    assert [r.offer_id for r in held] == ["X"] and [r.offer_id for r in RAN] == ["Y"]


class Passenger(BaseModel):
    name: str
    loyalty: str | None = None


def test_existing_keyword_tools_keep_their_digests_and_contract() -> None:
    @tool
    def book_flight(
        offer_id: str,
        price: Decimal,
        day: date,
        cabin: Literal["economy", "business"] = "economy",
        passengers: list[Passenger] | None = None,
    ) -> str:
        """Book."""
        return ""

    args = book_flight.validate(
        {
            "offer_id": "LX318-J",
            "price": "640.50",
            "day": "2026-12-14",
            "passengers": [{"name": "Alice"}],
        }
    )
    # Computed with the code before tools could take a model: approvals given then still match.
    assert call_digest("book_flight", canonical_arguments(args)) == (
        "0200be576935748e47a57a939c40619c78e30b836fadf3477d4311d9c70bce24"
    )
    assert book_flight.contract == "86aa635f60bf8251"


def test_a_tool_that_cannot_take_the_model_is_refused_when_defined() -> None:
    def two(request: BookingRequest, extra: int) -> str:
        return ""

    def wrong(request: date) -> str:
        return ""

    with pytest.raises(ToolDefinitionError, match=r"one parameter for it .*\['request', 'extra'\]"):
        Tool.from_model("two", BookingRequest, two)
    with pytest.raises(ToolDefinitionError, match="annotated date, but the arguments are a Book"):
        Tool.from_model("wrong", BookingRequest, wrong)
    with pytest.raises(ToolDefinitionError, match="root model"):
        Tool.from_model("root", RootModel[list[int]], lambda args: "")
    with pytest.raises(ToolDefinitionError, match="not a pydantic model"):
        Tool.from_model("plain", date, lambda args: "")  # pyright: ignore[reportArgumentType]


async def test_from_model_takes_an_async_function_and_keeps_the_model_when_guarded() -> None:
    async def quote(request: BookingRequest) -> str:
        """Quote an offer."""
        return f"{request.offer_id}: {request.price}"

    quoting = Tool.from_model("quote", BookingRequest, quote).requiring(under_cap)
    assert quoting.args_model is BookingRequest and quoting.description.startswith("Quote")
    ran = await invoke_tool(
        quoting, RunContext(deps=None), call("quote", {"offer_id": "A", "price": 3})
    )
    assert isinstance(ran, ToolReturned) and ran.content == "A: 3"
    refused = await invoke_tool(
        quoting, RunContext(deps=None), call("quote", {"offer_id": "A", "price": 3000})
    )
    assert isinstance(refused, ToolDenied)


# -- tools described by a JSON schema ---------------------------------------------------------

REFUND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order": {"type": "string", "pattern": "^A-[0-9]+$"},
        "reason-code": {"type": "string", "enum": ["late", "broken"]},  # attribute p1_
        "p1": {"type": "string"},
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "_note": {"type": "string"},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
    },
    "required": ["order", "amount"],
    "additionalProperties": False,
    "$defs": {"item": {"type": "object", "properties": {"sku": {"type": "string"}}}},
}


async def test_a_schema_tool_checks_the_schema_and_its_body_gets_the_object_sent() -> None:
    sent: list[dict[str, Any]] = []

    @precondition
    def small(ctx: RunContext[Any], args: Any) -> Decision:
        return Allow() if args.amount <= 100 else Deny(f"{args.amount} is above 100")

    def refund(arguments: dict[str, Any]) -> str:
        sent.append(arguments)
        return "refunded"

    refunds = Tool.from_schema("refund", REFUND_SCHEMA, refund, requires=small, side_effects=True)
    assert refunds.definition.input_schema == REFUND_SCHEMA
    model = ScriptedModel(
        [
            tool_call("refund", order="B-1", amount=-5),
            tool_call("refund", order="A-1", amount=500),
            tool_call("refund", order="A-1", amount=40, **{"reason-code": "late", "p1": "x"}),
            "done",
        ]
    )
    await Agent(model, tools=[refunds]).run("refund", user="sam")
    first = model.requests[1].messages[-1].content[0]
    assert isinstance(first, ToolResultBlock) and first.is_error
    assert "order: 'B-1' does not match" in first.content
    assert "amount: -5 is less than or equal to the minimum of 0" in first.content
    second = model.requests[2].messages[-1].content[0]
    assert isinstance(second, ToolResultBlock) and "500 is above 100" in second.content
    # Exactly what was sent, by the schema's names: two of them are no Python attribute.
    assert sent == [{"order": "A-1", "amount": 40, "reason-code": "late", "p1": "x"}]


def test_property_names_that_are_no_attribute_never_take_another_propertys_place() -> None:
    refunds = Tool.from_schema("refund", REFUND_SCHEMA, lambda arguments: "")
    args = refunds.validate(
        {"order": "A-1", "amount": 1, "p1": "mine", "reason-code": "late", "_note": "n"}
    )
    assert args.p1 == "mine"
    assert args.model_dump(by_alias=True, exclude_unset=True) == {
        "order": "A-1",
        "amount": 1,
        "p1": "mine",
        "reason-code": "late",
        "_note": "n",
    }


@pytest.mark.parametrize(
    ("schema", "refusal"),
    [
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "invalid JSON schema"),
        ({"type": "array", "items": {"type": "number"}}, "arguments are a JSON object"),
        (
            {"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}},
            "'https://example.com/a.json' does not resolve inside the schema",
        ),
        (
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
            "'#/\\$defs/missing' does not resolve",
        ),
    ],
    ids=["invalid", "not-an-object", "remote-ref", "dangling-ref"],
)
def test_a_schema_that_cannot_work_is_refused_when_the_tool_is_defined(
    schema: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(ToolDefinitionError, match=f"tool 'lookup': .*{refusal}"):
        Tool.from_schema("lookup", schema, lambda arguments: "")


@pytest.mark.parametrize("bad", ["NaN", float("inf")])
def test_a_schema_tool_refuses_non_finite_numbers(bad: object) -> None:
    refunds = Tool.from_schema("refund", REFUND_SCHEMA, lambda arguments: "")
    with pytest.raises(InvalidArguments):
        refunds.validate({"order": "A-1", "amount": bad})


class Trip(BaseModel):
    model_config = ConfigDict(extra="forbid")

    origin: str = Field(alias="from")
    to: str

    @computed_field
    @property
    def route(self) -> str:
        return f"{self.origin}-{self.to}"


async def test_a_call_carried_to_an_activity_runs_as_sent_and_is_approved_as_sent() -> None:
    """What the loop puts in a call (its canonical arguments) is validated again where it runs.

    An activity, a resumed run and an approver's edit have only the call, not the model the
    loop validated: the arguments must come back as the same call. A schema tool's unsent
    optional property used to travel as ``null`` (which the schema refuses) and a property
    that is no attribute under its stand-in name (``p1_``, which it also refuses); a model's
    aliased field under its attribute name, and its computed fields (which the model refuses).
    The approver saw those.
    """
    sent: list[dict[str, Any]] = []

    @precondition
    def ask_above_10(ctx: RunContext[Any], args: Any) -> Decision:
        return Allow() if args.amount <= 10 else NeedsApproval("above 10", approvers=["bob"])

    def refund(arguments: dict[str, Any]) -> str:
        sent.append(arguments)
        return "refunded"

    refunds = Tool.from_schema("refund", REFUND_SCHEMA, refund, requires=ask_above_10)
    raw = {"order": "A-1", "amount": 40, "reason-code": "late"}
    carried = canonical_arguments(refunds.validate(raw))
    assert carried == raw  # by the schema's names, nothing it was not sent
    ctx = RunContext(deps=None, user="alice", tool_call_id="c1")
    asked = await invoke_tool(refunds, ctx, call("refund", carried))
    assert isinstance(asked, ToolNeedsApproval), asked
    assert asked.request.arguments == raw  # what the approver reads
    approved = RunContext(
        deps=None, user="alice", tool_call_id="c1", approval=asked.request.approve("bob")
    )
    ran = await invoke_tool(refunds, approved, call("refund", carried))
    assert isinstance(ran, ToolReturned), ran
    assert sent == [raw]

    trips: list[Trip] = []

    def plan(request: Trip) -> str:
        trips.append(request)
        return "planned"

    trip = Tool.from_model("trip", Trip, plan)
    carried = canonical_arguments(trip.validate({"from": "ZRH", "to": "LHR"}))
    assert carried == {"from": "ZRH", "to": "LHR"}
    outcome = await invoke_tool(trip, ctx, call("trip", carried))
    assert isinstance(outcome, ToolReturned), outcome
    assert trips == [Trip.model_validate({"from": "ZRH", "to": "LHR"})]


def test_a_model_that_hides_a_field_from_its_dump_is_refused_when_defined() -> None:
    """A field excluded from dumps would reach the body unseen by the approver and the digest."""

    class Transfer(BaseModel):
        amount: Decimal
        beneficiary: str = Field(default="", exclude=True)

    with pytest.raises(ToolDefinitionError, match="excludes beneficiary from its dump"):
        Tool.from_model("transfer", Transfer, lambda transfer: "")


def test_a_schema_tool_digest_is_over_the_object_sent() -> None:
    schema = {
        "type": "object",
        "properties": {
            "flight_id": {"type": "string"},
            "price": {"type": "number"},
            "seat-pref": {"type": "string"},
            "meal": {"type": "string"},
        },
        "required": ["flight_id", "price"],
    }
    booking = Tool.from_schema("book_flight", schema, lambda arguments: "")
    sent = {"flight_id": "LX1", "price": 90.5, "seat-pref": "aisle"}
    # By the schema's names and without the property not sent (MCP tools digested the
    # stand-in name p2 and a null meal, which the schema refuses when the call runs).
    assert canonical_arguments(booking.validate(sent)) == sent
    assert call_digest("book_flight", canonical_arguments(booking.validate(sent))) == (
        "e94235feee3a5d6bfb12e1d28b7156d85eb68cfa4f2cf14aced3c96ef1881bb4"
    )


def test_a_schema_tool_digest_tells_a_null_sent_from_a_property_left_out() -> None:
    """The body gets ``{"note": None}`` or ``{}``: two calls, so two digests, two approvals."""
    schema = {
        "type": "object",
        "properties": {"order": {"type": "string"}, "note": {"type": ["string", "null"]}},
        "required": ["order"],
    }
    refunds = Tool.from_schema("refund", schema, lambda arguments: "")
    left_out = canonical_arguments(refunds.validate({"order": "A-1"}))
    sent_null = canonical_arguments(refunds.validate({"order": "A-1", "note": None}))
    assert call_digest("refund", left_out) != call_digest("refund", sent_null)
