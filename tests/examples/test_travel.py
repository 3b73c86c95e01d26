"""The travel agent in-process: what gets booked is decided by code, whatever the model says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentflow import Agent, ApprovalDecision, ApprovalRequest, LoopState, RunResult
from agentflow.audit import AuditStore
from agentflow.messages import ToolResultBlock
from agentflow.testing import ScriptedModel, tool_call
from examples.travel.agent import SYSTEM, build_agent
from examples.travel.inventory import EmbeddedInventory
from examples.travel.org import open_org
from examples.travel.policy import Offer, TravelPolicy
from examples.travel.store import open_store, trips_of
from examples.travel.tools import TOOLS, TravelDeps

ROOT = Path(__file__).resolve().parents[2]


FLIGHTS = EmbeddedInventory(seed=7, today=date(2026, 11, 25))


def company_deps(tmp_path: Path, **overrides: Any) -> TravelDeps:
    """Deps with the demo company's org chart (alice and carol report to bob)."""
    engine = open_store(f"sqlite:///{tmp_path / 'travel.db'}")
    return TravelDeps(engine=engine, flights=FLIGHTS, org=open_org(engine), **overrides)


@pytest.fixture
def deps(tmp_path: Path) -> TravelDeps:
    return company_deps(tmp_path)


def zrh_lhr(index: int = 0) -> Offer:
    return FLIGHTS.search("ZRH", "LHR", date(2026, 12, 14), "economy")[index]


def book(offer: Offer, **extra: Any) -> Any:
    return tool_call("book_flight", offer_id=offer.offer_id, price=offer.price, **extra)


async def searched(deps: TravelDeps, user: str = "alice") -> LoopState:
    """The conversation after the employee was shown the ZRH → LHR economy options."""
    first = await build_agent().run("flight from ZRH to LHR on 2026-12-14", deps=deps, user=user)
    return first.state


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


def approve_as(approver: str) -> Any:
    async def decide(request: ApprovalRequest) -> ApprovalDecision:
        return request.decide("approved", approver=approver)

    return decide


async def test_offline_planner_books_an_in_policy_flight(deps: TravelDeps) -> None:
    agent = build_agent()
    first = await agent.run("flight from ZRH to LHR on 2026-12-14", deps=deps, user="alice")
    assert "(offline planner) Options:" in first.output
    second = await agent.run("book option 2", deps=deps, user="alice", state=first.state)
    assert "Booked" in second.output
    (trip,) = trips_of(deps.engine, "alice")
    expected = zrh_lhr(1)
    assert (trip.offer_id, trip.price, trip.approved_by) == (
        expected.offer_id,
        expected.price,
        None,
    )


async def test_out_of_policy_needs_the_managers_approval(deps: TravelDeps) -> None:
    agent = build_agent()
    search = await agent.run(
        "business flight from ZRH to LHR on 2026-12-16", deps=deps, user="alice"
    )
    paused = await agent.run("book option 1", deps=deps, user="alice", state=search.state)
    assert paused.status == "awaiting_approval"
    (request,) = paused.pending_approvals
    assert request.approvers == ("bob", "dana") and "business class" in request.reasons[0]
    assert trips_of(deps.engine, "alice") == []

    done = await agent.resume(
        paused,
        [request.decide("approved", approver="bob")],
        deps=deps,
        user="alice",
    )
    assert "approved by bob" in done.output
    (trip,) = trips_of(deps.engine, "alice")
    assert trip.approved_by == "bob"


async def test_hard_cap_holds_even_with_an_approval(tmp_path: Path) -> None:
    deps = company_deps(tmp_path, policy=TravelPolicy(fare_cap=100, hard_cap=200))
    offer = zrh_lhr(0)
    assert offer.price > 200
    model = ScriptedModel([book(offer), "done"])
    agent = Agent(model, tools=TOOLS, system=SYSTEM)
    state = await searched(deps)
    result = await agent.run(
        "book option 1", deps=deps, user="alice", state=state, approvals=approve_as("bob")
    )
    assert trips_of(deps.engine, "alice") == []
    (refusal,) = results(result)
    assert "above the hard cap" in refusal


async def test_no_booking_without_the_employees_confirmation(deps: TravelDeps) -> None:
    model = ScriptedModel([book(zrh_lhr()), "done"])
    agent = Agent(model, tools=TOOLS, system=SYSTEM)
    await agent.run("what flights are there to London?", deps=deps, user="alice")
    assert trips_of(deps.engine, "alice") == []


async def test_a_price_the_employee_was_not_shown_is_refused(deps: TravelDeps) -> None:
    offer = zrh_lhr()
    cheaper = tool_call("book_flight", offer_id=offer.offer_id, price=1.0)
    state = await searched(deps)
    result = await Agent(ScriptedModel([cheaper, "done"]), tools=TOOLS).run(
        "book option 1", deps=deps, user="alice", state=state
    )
    (refusal,) = results(result)
    assert f"the price is now {offer.price:.2f} EUR" in refusal
    assert trips_of(deps.engine, "alice") == []


async def test_injected_instructions_in_results_do_not_change_what_is_booked(
    deps: TravelDeps,
) -> None:
    """A hijacked model that obeys text it read tries to book for someone else, at a price it
    invents: the booking is for the asking employee, at the inventory's price."""
    offer = zrh_lhr()
    hijacked = book(offer, employee="mallory")
    model = ScriptedModel([hijacked, book(offer), "ok"])
    agent = Agent(model, tools=TOOLS, system=SYSTEM)
    state = await searched(deps)
    result = await agent.run("book option 1", deps=deps, user="alice", state=state)
    assert "Extra inputs are not permitted" in results(result)[0]
    (trip,) = trips_of(deps.engine, "alice")
    assert (trip.employee, trip.price) == ("alice", offer.price)
    assert trips_of(deps.engine, "mallory") == []


def test_make_demo_runs_the_scripted_conversation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = dict(os.environ, DEMO_SCRIPT="1", COLUMNS="120", DATABASE_URL=url)
    env.pop("ANTHROPIC_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "examples.travel.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "running on the offline travel planner" in result.stdout
    # New York next Tuesday is booked (approved by bob when the fare is above the cap that day);
    # business class to London is denied, and an in-policy alternative is booked instead.
    assert "I'll let you know when bob decides." in result.stdout
    assert "bob declined (economy is fine for a short flight)." in result.stdout
    assert "In-policy alternatives for the same trip:" in result.stdout
    assert result.stdout.count("Booked ") == 2
    assert "Your trips:" in result.stdout  # "Show my trips" lists them, not an offer
    # The whole conversation, the approval included, is one trace in the audit trail.
    (conversation,) = set(re.findall(r"Conversation (conv-[0-9a-f]+)", result.stdout))
    assert f"/conversations/{conversation}/timeline?as=alice" in result.stdout
    store = AuditStore(url)
    try:
        records = store.conversation(conversation)
        assert store.verify().ok
    finally:
        store.dispose()
    assert len({r.record.trace_id for r in records}) == 1
    names = [r.record.name for r in records]
    # NYC (needs approval when above the cap, booked), London business (needs approval),
    # the alternative (booked).
    assert names.count("execute_tool book_flight") in (3, 4)
    assert any(n.startswith("approval decided") for n in names), names


async def booked(deps: TravelDeps, user: str) -> int:
    agent = Agent(ScriptedModel([book(zrh_lhr()), "done"]), tools=TOOLS)
    await agent.run("book option 1", deps=deps, user=user, state=await searched(deps, user))
    (trip,) = [t for t in trips_of(deps.engine, user) if t.status == "booked"]
    assert trip.id is not None
    return trip.id


async def cancel_as(deps: TravelDeps, user: str, booking_id: int, text: str) -> str:
    model = ScriptedModel([tool_call("cancel_trip", booking_id=booking_id), "done"])
    result = await Agent(model, tools=TOOLS).run(text, deps=deps, user=user)
    return result.messages[2].content[0].content  # type: ignore[union-attr, no-any-return]


async def test_employees_cancel_their_own_trips_only(deps: TravelDeps) -> None:
    alices = await booked(deps, "alice")
    refused = await cancel_as(deps, "mallory", alices, "cancel booking 1")
    assert refused == f"Refused by precondition: you have no booking {alices}"
    assert await cancel_as(deps, "alice", 999, "cancel booking 999") == (
        "Refused by precondition: you have no booking 999"
    )
    assert [t.status for t in trips_of(deps.engine, "alice")] == ["booked"]

    unasked = await cancel_as(deps, "alice", alices, "what trips do I have?")
    assert "has not asked to cancel" in unasked
    done = await cancel_as(deps, "alice", alices, "please cancel it")
    assert '"status":"cancelled"' in done
    assert [t.status for t in trips_of(deps.engine, "alice")] == ["cancelled"]


async def test_no_cancellation_within_24_hours_of_departure(tmp_path: Path) -> None:
    offer = zrh_lhr()
    departure = datetime.fromisoformat(offer.departure)
    deps = company_deps(tmp_path, now=lambda: departure - timedelta(hours=3))
    trip = await booked(deps, "alice")
    refused = await cancel_as(deps, "alice", trip, "cancel booking")
    assert "within 24 hours" in refused


async def test_a_cancellation_request_is_not_a_booking_confirmation(deps: TravelDeps) -> None:
    agent = Agent(ScriptedModel([book(zrh_lhr()), "done"]), tools=TOOLS)
    result = await agent.run("cancel my trip", deps=deps, user="alice")
    assert "has not confirmed this booking" in result.messages[2].content[0].content  # type: ignore[union-attr]
    assert trips_of(deps.engine, "alice") == []
