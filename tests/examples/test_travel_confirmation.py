"""A booking is bound to what the employee confirmed, and a traveller holds a flight only once.

The duplicate-booking cases run on SQLite and on PostgreSQL (127.0.0.1:5432, database ``test``;
skipped with a reason where no server answers), each PostgreSQL case in a schema of its own.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect
from sqlmodel import Session, col, select

from agentflow import Agent, LoopState, ModelUnavailable, RunContext, RunResult
from agentflow.events import Event, PreconditionChecked
from agentflow.execution import invoke_tool
from agentflow.loop import ToolCall
from agentflow.messages import Message, TextBlock, ToolResultBlock
from agentflow.outcomes import ToolDenied, ToolFailed, ToolReturned
from agentflow.testing import ScriptedModel, tool_call, tool_calls
from examples.travel.agent import SYSTEM, build_agent
from examples.travel.inventory import EmbeddedInventory
from examples.travel.org import open_org
from examples.travel.policy import Offer
from examples.travel.store import (
    ONE_ACTIVE_BOOKING_PER_OFFER,
    AlreadyBooked,
    Booking,
    book_once,
    cancel,
    open_store,
    prepare_store,
)
from examples.travel.tools import TOOLS, TravelDeps, book_flight
from tests.databases import engine_for

FLIGHTS = EmbeddedInventory(seed=7, today=date(2026, 11, 25))
SEARCH = "flight from ZRH to LHR on 2026-12-14"
OPTIONS = FLIGHTS.search("ZRH", "LHR", date(2026, 12, 14), "economy")
"""The five economy offers the search shows, in order: option 1 is LX880."""


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from engine_for(request.param, tmp_path / "travel.db", "travel_test")


@pytest.fixture
def deps(engine: Engine) -> TravelDeps:
    prepare_store(engine)
    return TravelDeps(engine=engine, flights=FLIGHTS, org=open_org(engine))


def rows(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        found = session.exec(select(Booking).order_by(col(Booking.id))).all()
        return [(b.employee, b.offer_id, b.status) for b in found]


def book(offer: Offer) -> tuple[str, dict[str, Any], None]:
    return ("book_flight", {"offer_id": offer.offer_id, "price": offer.price}, None)


def results(result: RunResult) -> list[str]:
    """The tool results since the employee's latest message, in order."""
    messages = result.messages
    latest = max(i for i, m in enumerate(messages) if m.role == "user" and m.text)
    return [
        block.content
        for message in messages[latest:]
        for block in message.content
        if isinstance(block, ToolResultBlock)
    ]


async def shown(deps: TravelDeps, *turns: str) -> LoopState:
    """The conversation after the employee's ``turns`` with the offline planner (real tools)."""
    agent, state = build_agent(), None
    for turn in turns:
        state = (await agent.run(turn, deps=deps, user="alice", state=state)).state
    assert state is not None
    return state


async def hijacked(deps: TravelDeps, state: LoopState, says: str, *calls: Any) -> RunResult:
    """The employee ``says`` something; the model answers with ``calls`` whatever it was."""
    model = ScriptedModel([tool_calls(*calls), "done"])
    agent = Agent(model, tools=TOOLS, system=SYSTEM)
    return await agent.run(says, deps=deps, user="alice", state=state)


# A failed turn and the next message ------------------------------------------------------


async def test_after_an_outage_stop_do_not_book_books_nothing(deps: TravelDeps) -> None:
    """ "book option 1", the model down, then "Stop - do NOT book anything": the hijacked model
    books option 1 anyway, and the rule reads only what the employee says now."""
    state = await shown(deps, SEARCH)
    outage = Agent(ScriptedModel([ModelUnavailable("overloaded")]), tools=TOOLS, system=SYSTEM)
    failed = await outage.run("book option 1", deps=deps, user="alice", state=state)
    assert failed.status == "model_error"

    stop = "Stop - do NOT book anything. Just list my trips."
    result = await hijacked(deps, failed.state, stop, book(OPTIONS[0]))

    assert rows(deps.engine) == []
    (refusal,) = results(result)
    assert "has not confirmed this booking" in refusal
    said = [m.text for m in result.messages if m.role == "user" and m.text]
    assert said[-2:] == ["book option 1", stop]


# One active booking per flight ------------------------------------------------------------


async def test_five_parallel_bookings_of_the_confirmed_offer_book_it_once(
    deps: TravelDeps,
) -> None:
    state = await shown(deps, SEARCH)
    result = await hijacked(deps, state, "book option 1", *(book(OPTIONS[0]) for _ in range(5)))
    assert rows(deps.engine) == [("alice", OPTIONS[0].offer_id, "booked")]
    outcomes = results(result)
    assert len(outcomes) == 5
    (booked,) = [o for o in outcomes if '"status":"booked"' in o]
    held = f"you already hold booking #{json.loads(booked)['id']} on this flight"
    refused = [o for o in outcomes if o != booked]
    assert all(held in o for o in refused), refused


def _race(workers: int, run: Any) -> list[Any]:
    """``run(i)`` in ``workers`` threads released at the same instant; results or exceptions."""
    barrier = threading.Barrier(workers)
    outcomes: list[Any] = [None] * workers

    def worker(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = run(index)
        except Exception as exc:  # the outcome under test, collected for the assertions
            outcomes[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_the_database_refuses_a_second_active_booking_even_past_the_rules(
    deps: TravelDeps,
) -> None:
    """Five inserts racing, each with its own key, no rule in between: one row, four refusals."""
    offer = OPTIONS[0]

    def insert(index: int) -> Booking:
        row = Booking(
            idempotency_key=f"race:{index}",
            employee="alice",
            offer_id=offer.offer_id,
            flight=offer.flight,
            departure=offer.departure,
            cabin=offer.cabin,
            price=offer.price,
        )
        return book_once(deps.engine, row)

    outcomes = _race(5, insert)
    stored = [o for o in outcomes if isinstance(o, Booking)]
    refused = [o for o in outcomes if isinstance(o, AlreadyBooked)]
    assert (len(stored), len(refused)) == (1, 4), outcomes
    assert {r.booking.id for r in refused} == {stored[0].id}
    assert rows(deps.engine) == [("alice", offer.offer_id, "booked")]


def _context(deps: TravelDeps, state: LoopState, says: str, call_id: str) -> RunContext[Any]:
    employee = Message(role="user", content=(TextBlock(text=says),))
    return RunContext(
        deps=deps,
        user="alice",
        conversation_id="conversation-1",
        tool_call_id=call_id,
        messages=(*state.messages, employee),
        latest_user_message=says,
    )


def _call(offer: Offer, call_id: str) -> ToolCall:
    arguments = {"offer_id": offer.offer_id, "price": offer.price}
    return ToolCall(id=call_id, name="book_flight", arguments=arguments, digest="")


async def test_concurrent_executions_from_many_workers_book_once(deps: TravelDeps) -> None:
    """Five executions of five calls, each on its own thread and event loop (as five workers
    would run them): exactly one books, the others are told which booking they hold."""
    state = await shown(deps, SEARCH)

    def execute(index: int) -> Any:
        ctx = _context(deps, state, "book option 1", f"call-{index}")
        return asyncio.run(invoke_tool(book_flight, ctx, _call(OPTIONS[0], f"call-{index}")))

    outcomes = await asyncio.to_thread(_race, 5, execute)
    (booked,) = [o for o in outcomes if isinstance(o, ToolReturned)]
    held = f"you already hold booking #{json.loads(booked.content)['id']} on this flight"
    for outcome in outcomes:
        if isinstance(outcome, ToolDenied):
            assert held in outcome.reasons
        elif isinstance(outcome, ToolFailed):
            assert outcome.message == held
        else:
            assert outcome is booked, outcome
    assert rows(deps.engine) == [("alice", OPTIONS[0].offer_id, "booked")]


async def test_a_second_booking_is_refused_by_a_rule_the_audit_trail_records(
    deps: TravelDeps,
) -> None:
    state = await shown(deps, SEARCH)
    first = _context(deps, state, "book option 1", "call-1")
    assert isinstance(
        await invoke_tool(book_flight, first, _call(OPTIONS[0], "call-1")), ToolReturned
    )
    events: list[Event] = []
    second = _context(deps, state, "book option 1", "call-2")
    outcome = await invoke_tool(
        book_flight, second, _call(OPTIONS[0], "call-2"), emit=events.append
    )
    assert outcome == ToolDenied(
        call_id="call-2", reasons=("you already hold booking #1 on this flight",)
    )
    (checked,) = [e for e in events if isinstance(e, PreconditionChecked)]
    verdicts = {v.rule: v.verdict for v in checked.evaluation.verdicts}
    assert verdicts["not_already_booked"] == "deny"
    assert verdicts["employee_confirmed"] == "allow"
    assert len(rows(deps.engine)) == 1


async def test_a_retried_execution_returns_the_same_booking(deps: TravelDeps) -> None:
    """The same call executed again (a retried activity) is the same booking, not a refusal."""
    state = await shown(deps, SEARCH)
    ctx = _context(deps, state, "book option 1", "call-1")
    first = await invoke_tool(book_flight, ctx, _call(OPTIONS[0], "call-1"))
    again = await invoke_tool(book_flight, ctx, _call(OPTIONS[0], "call-1"))
    assert isinstance(first, ToolReturned) and isinstance(again, ToolReturned)
    assert first.content == again.content
    assert len(rows(deps.engine)) == 1


async def test_a_cancelled_flight_can_be_booked_again(deps: TravelDeps) -> None:
    state = await shown(deps, SEARCH)
    first = _context(deps, state, "book option 1", "call-1")
    assert isinstance(
        await invoke_tool(book_flight, first, _call(OPTIONS[0], "call-1")), ToolReturned
    )
    cancel(deps.engine, 1)
    again = _context(deps, state, "book option 1", "call-2")
    outcome = await invoke_tool(book_flight, again, _call(OPTIONS[0], "call-2"))
    assert isinstance(outcome, ToolReturned), outcome
    assert rows(deps.engine) == [
        ("alice", OPTIONS[0].offer_id, "cancelled"),
        ("alice", OPTIONS[0].offer_id, "booked"),
    ]
    third = _context(deps, state, "book option 1", "call-3")
    refused = await invoke_tool(book_flight, third, _call(OPTIONS[0], "call-3"))
    assert isinstance(refused, ToolDenied)
    assert refused.reasons == ("you already hold booking #2 on this flight",)


def _index_names(engine: Engine) -> set[str]:
    return {str(i["name"]) for i in inspect(engine).get_indexes("booking")}


def _legacy_row(engine: Engine, key: str) -> None:
    offer = OPTIONS[0]
    with Session(engine) as session:
        session.add(
            Booking(
                idempotency_key=key,
                employee="alice",
                offer_id=offer.offer_id,
                flight=offer.flight,
                departure=offer.departure,
                cabin=offer.cabin,
                price=offer.price,
            )
        )
        session.commit()


def test_a_database_made_before_the_index_gets_it(engine: Engine) -> None:
    prepare_store(engine)
    ONE_ACTIVE_BOOKING_PER_OFFER.drop(engine)  # the table as an earlier version created it
    assert "ux_booking_active_offer" not in _index_names(engine)
    _legacy_row(engine, "legacy:1")
    prepare_store(engine)
    assert "ux_booking_active_offer" in _index_names(engine)
    with pytest.raises(AlreadyBooked, match="booking #1"):
        book_once(
            engine,
            Booking(
                idempotency_key="new:1",
                employee="alice",
                offer_id=OPTIONS[0].offer_id,
                flight="LX880",
                departure=OPTIONS[0].departure,
                cabin="economy",
                price=OPTIONS[0].price,
            ),
        )
    prepare_store(engine)  # opening again changes nothing
    assert len(rows(engine)) == 1


def test_a_database_holding_duplicates_is_refused_with_the_rows_to_resolve(
    engine: Engine,
) -> None:
    prepare_store(engine)
    ONE_ACTIVE_BOOKING_PER_OFFER.drop(engine)
    _legacy_row(engine, "legacy:1")
    _legacy_row(engine, "legacy:2")
    with pytest.raises(RuntimeError, match=f"alice {OPTIONS[0].offer_id} \\(2 rows\\)"):
        prepare_store(engine)
    assert "ux_booking_active_offer" not in _index_names(engine)
    assert len(rows(engine)) == 2


# The confirmation names the offer -----------------------------------------------------------


@pytest.fixture
def sqlite_deps(tmp_path: Path) -> TravelDeps:
    engine = open_store(f"sqlite:///{tmp_path / 'travel.db'}")
    return TravelDeps(engine=engine, flights=FLIGHTS, org=open_org(engine))


async def test_booking_option_3_after_book_option_1_is_refused(sqlite_deps: TravelDeps) -> None:
    state = await shown(sqlite_deps, SEARCH)
    result = await hijacked(sqlite_deps, state, "book option 1", book(OPTIONS[2]))
    (refusal,) = results(result)
    assert refusal == (
        f"Refused by precondition: the employee confirmed {OPTIONS[0].offer_id}, "
        f"not {OPTIONS[2].offer_id}; book only what they named"
    )
    assert rows(sqlite_deps.engine) == []


async def test_booking_by_flight_number_books_that_flight_only(sqlite_deps: TravelDeps) -> None:
    state = await shown(sqlite_deps, SEARCH)
    assert OPTIONS[0].flight == "LX880"
    result = await hijacked(
        sqlite_deps, state, "please book LX880", book(OPTIONS[1]), book(OPTIONS[0])
    )
    other, booked = results(result)
    assert f"the employee confirmed {OPTIONS[0].offer_id}, not {OPTIONS[1].offer_id}" in other
    assert '"flight":"LX880"' in booked
    assert rows(sqlite_deps.engine) == [("alice", OPTIONS[0].offer_id, "booked")]


async def test_book_it_after_show_offer_books_the_offer_shown(sqlite_deps: TravelDeps) -> None:
    state = await shown(sqlite_deps, SEARCH, "show option 4")
    result = await hijacked(sqlite_deps, state, "yes, book it", book(OPTIONS[0]), book(OPTIONS[3]))
    other, booked = results(result)
    assert f"the employee confirmed {OPTIONS[3].offer_id}, not {OPTIONS[0].offer_id}" in other
    assert '"status":"booked"' in booked
    assert rows(sqlite_deps.engine) == [("alice", OPTIONS[3].offer_id, "booked")]


async def test_book_it_after_a_list_of_five_asks_which_option(sqlite_deps: TravelDeps) -> None:
    state = await shown(sqlite_deps, SEARCH)
    result = await hijacked(sqlite_deps, state, "book it", book(OPTIONS[0]))
    (refusal,) = results(result)
    assert refusal == (
        "Refused by precondition: the employee did not say which offer to book; "
        "ask them to name the option"
    )
    assert rows(sqlite_deps.engine) == []


async def test_a_list_shown_after_an_offer_makes_book_it_ambiguous(
    sqlite_deps: TravelDeps,
) -> None:
    """What was shown last counts: a new search replaces the offer shown before it."""
    state = await shown(sqlite_deps, SEARCH, "show option 4", SEARCH)
    result = await hijacked(sqlite_deps, state, "book it", book(OPTIONS[3]))
    (refusal,) = results(result)
    assert "did not say which offer to book" in refusal
    assert rows(sqlite_deps.engine) == []


async def test_options_named_together_are_each_booked_once(sqlite_deps: TravelDeps) -> None:
    state = await shown(sqlite_deps, SEARCH)
    calls = (book(OPTIONS[0]), book(OPTIONS[2]), book(OPTIONS[1]), book(OPTIONS[0]))
    result = await hijacked(sqlite_deps, state, "book options 1 and 3", *calls)
    # The four calls run in parallel: which of the two for option 1 books is not fixed.
    first, third, second, again = results(result)
    assert '"status":"booked"' in third
    assert "not " + OPTIONS[1].offer_id in second
    option_1 = (first, again)
    assert len([r for r in option_1 if '"status":"booked"' in r]) == 1, option_1
    assert len([r for r in option_1 if "you already hold booking #" in r]) == 1, option_1
    assert set(rows(sqlite_deps.engine)) == {
        ("alice", OPTIONS[0].offer_id, "booked"),
        ("alice", OPTIONS[2].offer_id, "booked"),
    }


async def test_only_what_was_shown_before_the_confirmation_counts(
    sqlite_deps: TravelDeps,
) -> None:
    """The model cannot show another offer after "book it" and have that one booked."""
    state = await shown(sqlite_deps, SEARCH, "show option 4")
    model = ScriptedModel(
        [
            tool_call("show_offer", offer_id=OPTIONS[0].offer_id),
            tool_calls(book(OPTIONS[0])),
            "done",
        ]
    )
    agent = Agent(model, tools=TOOLS, system=SYSTEM)
    result = await agent.run("book it", deps=sqlite_deps, user="alice", state=state)
    _, refusal = results(result)
    assert f"the employee confirmed {OPTIONS[3].offer_id}, not {OPTIONS[0].offer_id}" in refusal
    assert rows(sqlite_deps.engine) == []


async def test_an_offer_id_the_employee_typed_is_confirmed(sqlite_deps: TravelDeps) -> None:
    state = await shown(sqlite_deps, SEARCH)
    says = f"book {OPTIONS[4].offer_id.lower()} please"
    result = await hijacked(sqlite_deps, state, says, book(OPTIONS[0]), book(OPTIONS[4]))
    other, booked = results(result)
    assert "book only what they named" in other and '"status":"booked"' in booked
    assert rows(sqlite_deps.engine) == [("alice", OPTIONS[4].offer_id, "booked")]


async def test_book_it_after_two_offers_shown_at_once_asks_which(sqlite_deps: TravelDeps) -> None:
    """The model shows two offers in one turn: "it" could be either, so neither is booked."""
    shows = [("show_offer", {"offer_id": o.offer_id}, None) for o in (OPTIONS[0], OPTIONS[1])]
    model = ScriptedModel([tool_calls(*shows), "Here are two.", tool_calls(book(OPTIONS[1])), "ok"])
    agent = Agent(model, tools=TOOLS, system=SYSTEM)
    first = await agent.run("show me two", deps=sqlite_deps, user="alice")
    result = await agent.run("book it", deps=sqlite_deps, user="alice", state=first.state)
    (refusal,) = results(result)
    assert "did not say which offer to book" in refusal
    assert rows(sqlite_deps.engine) == []
