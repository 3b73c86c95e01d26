"""A small booking agent for the durable tests: real SQLite through sqlmodel, stateless model.

The model decides from the transcript alone (no counters), so a worker that restarts after a
crash gives the same answers; the booking honours its idempotency key, so a retried activity
never books twice.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Field, Session, SQLModel, select
from temporalio.client import WorkflowHistory

from agentflow import Agent, Allow, Deny, NeedsApproval, RunContext, precondition, tool
from agentflow.audit.store import create_store_engine
from agentflow.messages import ModelRequest, ModelResponse, TextBlock, ToolResultBlock
from agentflow.preconditions import Decision
from agentflow.testing import FunctionModel, text_response, tool_call

LOCAL_ACTIVITY_MARKER = "core_local_activity"
"""The marker a local activity's result is recorded in (a patch's is ``core_patch``)."""
APPROVAL_ABOVE = 1_000.0
HARD_CAP = 5_000.0


class Booking(SQLModel, table=True):
    __tablename__ = "test_booking"  # pyright: ignore[reportAssignmentType]  # not the travel app's table

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, index=True)
    flight_id: str
    price: float
    traveller: str


def engine_for(path: Path) -> Engine:
    # The engine deployments use (WAL, a 30 s busy timeout): a file left in rollback-journal
    # mode made the CLI's write fail at once with "database is locked" while the worker read it.
    engine = create_store_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    return engine


def bookings(engine: Engine) -> list[Booking]:
    with Session(engine) as session:
        return list(session.exec(select(Booking)).all())


@precondition
def within_budget(ctx: RunContext[Engine], args: Any) -> Decision:
    """Prices above 1000 need the manager's approval; above 5000 are never booked."""
    if args.price > HARD_CAP:
        return Deny(f"price {args.price} is above the hard cap of {HARD_CAP}")
    if args.price > APPROVAL_ABOVE:
        return NeedsApproval(f"price {args.price} is above {APPROVAL_ABOVE}", approvers=["bob"])
    return Allow()


@tool(requires=within_budget, side_effects=True)
def book_flight(ctx: RunContext[Engine], flight_id: str, price: float) -> dict[str, Any]:
    """Book a flight for the employee."""
    with Session(ctx.deps) as session:
        existing = session.exec(
            select(Booking).where(Booking.idempotency_key == ctx.idempotency_key)
        ).first()
        if existing is None:
            existing = Booking(
                idempotency_key=ctx.idempotency_key,
                flight_id=flight_id,
                price=price,
                traveller=ctx.user or "?",
            )
            session.add(existing)
            session.commit()
            session.refresh(existing)
        booking_id = existing.id
    marker = os.environ.get("AGENTFLOW_TEST_SLOW_BOOKING")
    if marker:
        # The booking is committed; the worker is killed while the activity is still running.
        Path(marker).write_text("booked")
        time.sleep(60)
    return {"booking_id": booking_id, "flight_id": flight_id}


def plan(request: ModelRequest) -> ModelResponse:
    """Book what the user asked for (``book LX14 2400``), then report what happened."""
    last = request.messages[-1]
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    if results:
        outcome = results[0]
        return text_response(("Failed: " if outcome.is_error else "Booked: ") + outcome.content)
    text = next(b.text for b in last.content if isinstance(b, TextBlock))
    words = text.split()
    if words[0] != "book":
        return text_response(f"You said: {text}")
    return tool_call("book_flight", flight_id=words[1], price=float(words[2]), id="call-book")


def make_agent(name: str) -> Agent[Engine]:
    return Agent(FunctionModel(plan), tools=[book_flight], system="You book flights.", name=name)


def tool_calls_run(history: WorkflowHistory) -> tuple[list[str], list[str]]:
    """The tool calls a conversation's history ran as local activities, and as activities.

    By call id, in the order history records them: a local activity as the marker of its
    result, an activity as its scheduling. A local activity that failed (its marker holds the
    failure, with no call id) is ``failed``.
    """
    local: list[str] = []
    remote: list[str] = []
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            if marker.marker_name != LOCAL_ACTIVITY_MARKER:
                continue  # a patch's
            (data,) = marker.details["data"].payloads
            if json.loads(data.data)["activity_type"] == "agentflow.tool_call":
                results = marker.details["result"].payloads
                call = json.loads(results[0].data)["outcome"]["call_id"] if results else "failed"
                local.append(call)
        elif event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == "agentflow.tool_call":
                remote.append(json.loads(scheduled.input.payloads[0].data)["call"]["id"])
    return local, remote


def dumps_history(history: Any) -> str:
    return json.dumps(json.loads(history.to_json()), indent=1)


def cli_agent() -> tuple[Agent[Engine], Any]:
    """For ``agentflow worker --agent tests.temporal.support:cli_agent``."""
    engine = engine_for(Path(os.environ.get("AGENTFLOW_TEST_DB", "bookings.db")))
    return make_agent("cli-booker"), lambda: engine


CHAT_AGENT = make_agent("chat-booker")
"""For ``agentflow chat --agent tests.temporal.support:CHAT_AGENT``."""

REPLAY_AGENT = make_agent("replay-booker")
"""The agent of the histories committed under ``histories/``: its name is in them."""


def cli_agent_other() -> tuple[Agent[Engine], Any]:
    """A second agent, to show one worker process serving two task queues."""
    engine = engine_for(Path(os.environ.get("AGENTFLOW_TEST_DB", "bookings.db")))
    return make_agent("cli-booker-2"), lambda: engine
