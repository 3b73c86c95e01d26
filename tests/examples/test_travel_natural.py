"""Requests in the employee's words: places, days, preferences, picks, and what a pick binds.

The places come from the airports data, the days from dateparser read against the deps' clock
(never the machine's), and "the cheapest one" binds to the offer the search showed, in code.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from agentflow import Agent
from agentflow.binding import ApprovalRequest
from agentflow.loop import waiting_message
from agentflow.testing import ScriptedModel, tool_call
from examples.travel.agent import SYSTEM, build_agent
from examples.travel.dates import find_day_phrase, parse_day
from examples.travel.places import find_place, resolve
from examples.travel.store import trips_of
from examples.travel.tools import TOOLS, TravelDeps
from tests.examples.travel_scenario_support import company

TODAY = date(2026, 11, 25)  # a Wednesday


@pytest.fixture
def deps(tmp_path: Path) -> TravelDeps:
    return company(tmp_path, now=lambda: datetime(2026, 11, 25, 9, 0))


@pytest.mark.parametrize(
    ("phrase", "day"),
    [
        ("next Tuesday", date(2026, 12, 1)),
        ("tomorrow morning", date(2026, 11, 26)),
        ("on Monday", date(2026, 11, 30)),
        ("on the 14th", date(2026, 12, 14)),  # the 14th of this month is past: December's
        ("on the 30th", date(2026, 11, 30)),
        ("14 March", date(2027, 3, 14)),
        ("2026-12-14", date(2026, 12, 14)),
        ("le 14 décembre", date(2026, 12, 14)),
        ("am 14. Dezember", date(2026, 12, 14)),
    ],
)
def test_days_are_read_against_the_given_today(phrase: str, day: date) -> None:
    assert parse_day(phrase, TODAY) == day


def test_a_day_is_found_in_a_sentence_and_nothing_in_other_requests() -> None:
    assert find_day_phrase("Book me a flight to NYC next Tuesday") == "next Tuesday"
    assert find_day_phrase("a flight to Paris tomorrow morning, the earliest") == (
        "tomorrow morning"
    )
    for text in ("book option 2", "show my trips", "cancel booking 3", "yes", "x" * 5000):
        assert find_day_phrase(text) is None


@pytest.mark.parametrize(
    ("text", "airport"),
    [
        ("a flight to NYC next Tuesday", "JFK"),
        ("a flight to New York next Tuesday", "JFK"),
        ("I need to be in London on Monday", "LHR"),
        ("to Sydney on 3 January", "SYD"),  # not Sydney, Nova Scotia
        ("to Dublin tomorrow", "DUB"),  # not the American towns called Dublin
        ("to ZRH", "ZRH"),
    ],
)
def test_places_resolve_through_the_airports_data(text: str, airport: str) -> None:
    place = find_place(text, ("to", "in"))
    assert place is not None and place.airport == airport


def test_words_that_are_airport_codes_are_not_places() -> None:
    # THE, ONE, ANY are IATA codes: in lower case, inside a sentence, they name nothing.
    assert find_place("a flight to the office", ("to",)) is None
    assert find_place("I want to be there", ("to",)) is None
    assert resolve("Atlantis") is None


def test_a_city_with_several_equal_airports_is_a_question() -> None:
    place = resolve("Springfield")
    assert place is not None and place.airport is None and len(place.candidates) > 1


async def _say(deps: TravelDeps, *turns: str) -> tuple[str, Any]:
    agent, state, output = build_agent(), None, ""
    for turn in turns:
        result = await agent.run(turn, deps=deps, user="alice", state=state)
        state, output = result.state, result.output
    return output, state


async def test_the_reference_request_lists_the_top_three_from_the_home_airport(
    deps: TravelDeps,
) -> None:
    output, _ = await _say(deps, "I need to be in London on Monday, cheapest flight please")
    assert "ZRH → LHR, 2026-11-30:" in output
    lines = [line for line in output.splitlines() if line[:2] in ("1.", "2.", "3.", "4.")]
    assert [line[:2] for line in lines] == ["1.", "2.", "3."]
    assert "(2 more: say 'show all options'.)" in output
    prices = [float(line.split(" EUR")[0].rsplit(" ", 1)[1]) for line in lines]
    assert prices == sorted(prices)


async def test_a_pick_is_shown_with_the_policy_before_anything_is_booked(deps: TravelDeps) -> None:
    output, _ = await _say(deps, "Book me a flight to NYC next Tuesday", "option 1")
    assert "Shall I book LX341" in output and "approval by bob" in output
    assert trips_of(deps.engine, "alice") == []


async def test_the_cheapest_flight_to_somewhere_else_is_not_the_cheapest_one_shown(
    deps: TravelDeps,
) -> None:
    # After a London list, "book me the cheapest flight to Paris" asks for a new search: a
    # model that books London's cheapest on it is refused by the confirmation rule.
    _, state = await _say(deps, "flight to London on the 14th")
    london_cheapest = {"offer_id": "LX660-ZRH-LHR-2026-12-14-E", "price": "190.62"}
    model = ScriptedModel([tool_call("book_flight", london_cheapest), "done"])
    agent = Agent(model, tools=TOOLS, system=SYSTEM)
    await agent.run(
        "book me the cheapest flight to Paris tomorrow", deps=deps, user="alice", state=state
    )
    assert trips_of(deps.engine, "alice") == []
    # Said of the list shown, the same words bind to that offer.
    model = ScriptedModel([tool_call("book_flight", london_cheapest), "done"])
    agent = Agent(model, tools=TOOLS, system=SYSTEM)
    await agent.run("book the cheapest one", deps=deps, user="alice", state=state)
    assert [t.flight for t in trips_of(deps.engine, "alice")] == ["LX660"]


async def test_the_search_reads_the_day_against_the_deps_clock(deps: TravelDeps) -> None:
    model = ScriptedModel(
        [tool_call("search_flights", destination="LHR", when="next Tuesday"), "done"]
    )
    result = await Agent(model, tools=TOOLS).run("go", deps=deps, user="alice")
    assert '"departure":"2026-12-01T' in result.messages[2].content[0].content  # type: ignore[union-attr]


async def test_an_unreadable_day_goes_back_to_the_model(deps: TravelDeps) -> None:
    model = ScriptedModel(
        [tool_call("search_flights", destination="LHR", when="whenever suits"), "done"]
    )
    result = await Agent(model, tools=TOOLS).run("go", deps=deps, user="alice")
    block = result.messages[2].content[0]
    assert block.is_error and "cannot tell which day" in block.content  # type: ignore[union-attr]


def test_the_waiting_message_says_who_decides_and_that_the_employee_will_hear() -> None:
    request = ApprovalRequest(
        tool="book_flight",
        arguments={"offer_id": "X"},
        digest="0" * 64,
        tool_call_id="t1",
        requester="alice",
        approvers=("bob", "dana"),
        reasons=("fare above the cap",),
    )
    assert waiting_message([request]) == (
        "Waiting for approval before running book_flight. I'll let you know when bob decides."
    )
