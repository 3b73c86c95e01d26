"""Schema generation for every supported annotation shape, against the Messages API JSON."""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from agentflow import RunContext, ToolDefinitionError, precondition, tool
from agentflow.exceptions import InvalidArguments
from agentflow.preconditions import Allow
from agentflow.tools import serialize_result


class Cabin(enum.Enum):
    ECONOMY = "economy"
    BUSINESS = "business"


class Passenger(BaseModel):
    name: str
    loyalty: str | None = None


def schema(fn: Any) -> dict[str, Any]:
    return tool(fn).definition.input_schema


def test_plain_types_defaults_and_docstring_descriptions() -> None:
    def search(origin: str, dest: str, passengers: int = 1, flexible: bool = False) -> str:
        """Search flights between two airports.

        Args:
            origin: IATA code of the departure airport.
            dest: IATA code of the arrival airport.
        """
        return ""

    t = tool(search)
    assert dataclasses.asdict(t.definition) == {
        "name": "search",
        "description": "Search flights between two airports.",
        "input_schema": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "origin": {"type": "string", "description": "IATA code of the departure airport."},
                "dest": {"type": "string", "description": "IATA code of the arrival airport."},
                "passengers": {"type": "integer", "default": 1},
                "flexible": {"type": "boolean", "default": False},
            },
            "required": ["origin", "dest"],
        },
    }


def test_annotated_field_description_wins_over_docstring_and_keeps_constraints() -> None:
    def f(price: Annotated[float, Field(description="Total in EUR", gt=0, le=10_000)]) -> None:
        """Do it.

        Args:
            price: ignored, the Field description wins.
        """

    assert schema(f)["properties"]["price"] == {
        "type": "number",
        "description": "Total in EUR",
        "exclusiveMinimum": 0,
        "maximum": 10_000,
    }


def test_literal_enum_date_datetime_optional() -> None:
    def f(
        cabin: Literal["economy", "business"],
        cabin_enum: Cabin,
        day: date,
        at: datetime,
        note: str | None = None,
    ) -> None:
        pass

    s = schema(f)
    assert s["properties"]["cabin"] == {"type": "string", "enum": ["economy", "business"]}
    assert s["properties"]["cabin_enum"] == {"$ref": "#/$defs/Cabin"}
    assert s["$defs"]["Cabin"] == {"type": "string", "enum": ["economy", "business"]}
    assert s["properties"]["day"] == {"type": "string", "format": "date"}
    assert s["properties"]["at"] == {"type": "string", "format": "date-time"}
    assert s["properties"]["note"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    assert s["required"] == ["cabin", "cabin_enum", "day", "at"]


def test_nested_models_go_to_defs_without_titles() -> None:
    def f(passengers: list[Passenger]) -> None:
        pass

    s = schema(f)
    assert s["properties"]["passengers"] == {
        "type": "array",
        "items": {"$ref": "#/$defs/Passenger"},
    }
    assert s["$defs"]["Passenger"] == {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "loyalty": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["name"],
    }
    assert "title" not in str(s)


def test_context_parameter_is_injected_not_described() -> None:
    def f(ctx: RunContext[dict[str, int]], flight: str) -> str:
        return flight

    t = tool(f)
    assert t.context_param == "ctx"
    assert list(t.definition.input_schema["properties"]) == ["flight"]


def test_preconditions_are_listed_in_the_description() -> None:
    @precondition
    def in_policy(ctx: Any, args: Any) -> Allow:
        """Trips must comply with the travel policy."""
        return Allow()

    @tool(requires=in_policy)
    def book(flight: str) -> None:
        """Book a flight."""

    assert book.description.endswith("- Trips must comply with the travel policy.")
    assert book.description.startswith("Book a flight.")


def test_unannotated_and_variadic_parameters_are_refused() -> None:
    def untyped(x) -> None:  # type: ignore[no-untyped-def]
        pass

    def variadic(*args: int) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="needs a type annotation"):
        tool(untyped)
    with pytest.raises(ToolDefinitionError, match=r"\*args"):
        tool(variadic)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"flight": 3}, "flight: Input should be a valid string"),
        ({}, "flight: Field required"),
        ({"flight": "LX1", "extra": 1}, "extra: Extra inputs are not permitted"),
        ("{not json", "not valid JSON"),
        ([1, 2], "must be a JSON object, got list"),
        ("x" * 70_000, "exceed"),
    ],
)
def test_invalid_arguments_get_a_message_for_the_model(raw: Any, expected: str) -> None:
    def f(flight: str) -> None:
        pass

    with pytest.raises(InvalidArguments) as info:
        tool(f).validate(raw)
    assert expected in info.value.message


def test_json_string_arguments_are_accepted() -> None:
    def f(flight: str, day: date) -> None:
        pass

    args = tool(f).validate('{"flight": "LX1", "day": "2026-12-01"}')
    assert args.model_dump() == {"flight": "LX1", "day": date(2026, 12, 1)}


@dataclasses.dataclass
class Booking:
    id: str
    day: date


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        (3, "3"),
        ({"a": [1, None]}, '{"a":[1,null]}'),
        (Passenger(name="Ada"), '{"name":"Ada","loyalty":null}'),
        (Booking(id="B1", day=date(2026, 1, 2)), '{"id":"B1","day":"2026-01-02"}'),
    ],
)
def test_results_are_serialised_for_tool_result(value: Any, text: str) -> None:
    assert serialize_result(value) == text


async def test_sync_and_async_bodies_receive_typed_arguments_and_context() -> None:
    seen: list[Any] = []

    def sync_tool(ctx: RunContext[str], passengers: list[Passenger], day: date) -> str:
        seen.append((ctx.deps, passengers[0], day))
        return "ok"

    async def async_tool(day: date) -> date:
        return day

    t = tool(sync_tool)
    ctx = RunContext(deps="db")
    args = t.validate({"passengers": [{"name": "Ada"}], "day": "2026-12-01"})
    assert await t.call(ctx, args) == "ok"
    assert seen == [("db", Passenger(name="Ada"), date(2026, 12, 1))]
    a = tool(async_tool)
    assert await a.call(RunContext(deps=None), a.validate({"day": "2026-12-01"})) == date(
        2026, 12, 1
    )


class Fare(BaseModel):
    amount: float
    currency: str = "EUR"


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"price": "NaN"}, "price"),
        ({"price": "Infinity"}, "price"),
        ({"price": "-inf"}, "price"),
        ({"price": float("nan")}, "price"),
        ('{"price": NaN}', "price"),  # json.loads reads the NaN token as a float
        ('{"price": -Infinity}', "price"),
        ({"price": 1, "total": "sNaN"}, "total"),
        ({"price": 1, "fares": [{"amount": "NaN"}]}, "fares.0.amount"),
        ({"price": 1, "by_day": {"mon": {"amount": "Infinity"}}}, "by_day.mon.amount"),
        ({"price": 1, "fares": [Fare(amount=float("nan"))]}, "fares.0.amount"),  # not revalidated
        ({"price": 1, "note": {"tip": [float("inf")]}}, "note.tip.0"),
        ({"price": 1, "loose": "nan"}, "loose"),
    ],
)
def test_non_finite_numbers_are_refused_anywhere_in_the_arguments(raw: Any, where: str) -> None:
    def pay(
        price: float,
        total: Decimal = Decimal(0),
        fares: list[Fare] | None = None,
        by_day: dict[str, Fare] | None = None,
        note: Any = None,
        loose: Annotated[float, Field(allow_inf_nan=True)] = 0.0,
    ) -> None:
        pass

    with pytest.raises(InvalidArguments) as info:
        tool(pay).validate(raw)
    assert f"- {where}: Input should be a finite number" in info.value.message


def test_finite_numbers_pass_and_every_broken_one_is_named() -> None:
    def pay(fares: list[Fare], note: Any = None) -> None:
        pass

    t = tool(pay)
    args = t.validate({"fares": [{"amount": 1.5}], "note": {"n": [1, 2.5, "x"]}})
    assert args.model_dump()["fares"] == [{"amount": 1.5, "currency": "EUR"}]
    with pytest.raises(InvalidArguments) as info:
        t.validate({"fares": [{"amount": "nan"}, {"amount": 2}, {"amount": "-inf"}]})
    assert info.value.message.startswith("2 validation error(s):")
    assert "- fares.2.amount: Input should be a finite number (got -inf)" in info.value.message


def test_only_tools_whose_shapes_escape_the_models_config_walk_their_arguments() -> None:
    """The walk costs time on every call: plain fields and containers never pay for it."""

    def plain(
        a: float,
        b: Decimal,
        c: list[float],
        d: dict[str, tuple[Decimal, ...]] | None,
        e: Annotated[float, Field(gt=0)],
        f: Literal["x"],
        g: Cabin,
        h: date,
    ) -> None:
        pass

    def nested(fares: list[Fare]) -> None:
        pass

    def anything(note: Any) -> None:
        pass

    tools = [tool(fn) for fn in (plain, nested, anything)]
    walks = [t._walk_for_non_finite for t in tools]  # pyright: ignore[reportPrivateUsage]
    assert walks == [False, True, True]
