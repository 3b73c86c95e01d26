"""The travel agent's safety scenarios on a real Temporal dev server: the same agent, tools and
preconditions as in-process, with approvals as child workflows decided through AgentClient.
Each test asserts what ends up in the bookings table."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agentflow import Agent, ApprovalError, Model
from agentflow.temporal import (
    AgentClient,
    AgentReply,
    ApprovalTimers,
    ApprovalVote,
    DevServer,
    DurableOptions,
    create_worker,
)
from agentflow.testing import FunctionModel
from agentflow.testing.channels import RecordingChannel
from examples.travel.agent import SYSTEM
from examples.travel.planner import plan
from examples.travel.policy import TravelPolicy
from examples.travel.tools import TOOLS, TravelDeps
from tests.examples.travel_scenario_support import (
    OUT_OF_POLICY_SEARCH,
    SEARCH,
    PoisonedFlights,
    booked_row,
    bookings,
    company,
    hijacked,
    offer,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
T = TypeVar("T")

SHORT_BUSINESS = offer(0, date(2026, 12, 16), "business")
QUICK_EXPIRY = DurableOptions(
    approval=ApprovalTimers(
        remind_after=timedelta(seconds=1),
        escalate_after=timedelta(seconds=1),
        expire_after=timedelta(seconds=1),
    )
)


async def within(awaitable: Awaitable[T], seconds: float = 60) -> T:
    """A turn that never ends (say, waiting for an approval nobody expects) fails the test."""
    async with asyncio.timeout(seconds):
        return await awaitable


@dataclass
class Travel:
    agents: AgentClient
    agent: str
    deps: TravelDeps

    async def chat(self, user: str = "alice", options: DurableOptions | None = None) -> Chat:
        conversation = await self.agents.start_conversation(self.agent, user=user, options=options)
        return Chat(self.agents, conversation, user)


@dataclass
class Chat:
    agents: AgentClient
    conversation: str
    user: str

    async def say(self, *texts: str) -> AgentReply:
        replies = [
            await within(self.agents.send(self.conversation, text, sender=self.user))
            for text in texts
        ]
        return replies[-1]

    async def pending(self) -> tuple[str, Any]:
        ((approval_id, status),) = await self.agents.pending_approvals(self.conversation)
        return approval_id, status

    async def vote(self, approver: str, approve: bool) -> None:
        approval_id, status = await self.pending()
        vote = ApprovalVote(
            digest=status.request.digest, approver=approver, approve=approve, reason="checked"
        )
        await self.agents.decide(approval_id, vote)


@asynccontextmanager
async def travel(
    server: DevServer, tmp_path: Path, model: Model | None = None, **deps: Any
) -> AsyncIterator[Travel]:
    """A worker for a travel agent of its own (agent names are per process) on its own queue."""
    client = await server.client()
    queue = f"travel-{uuid.uuid4().hex}"
    agent = Agent(
        model or FunctionModel(plan), tools=TOOLS, system=SYSTEM, name=f"travel-{queue[-8:]}"
    )
    company_deps = company(tmp_path, **deps)
    channel = RecordingChannel()
    async with create_worker(
        client, [agent], task_queue=queue, deps={agent.name: lambda: company_deps}, channel=channel
    ):
        yield Travel(AgentClient(client, task_queue=queue), agent.name, company_deps)


async def test_in_policy_booking(dev_server: DevServer, tmp_path: Path) -> None:
    async with travel(dev_server, tmp_path) as app:
        chat = await app.chat()
        reply = await chat.say(SEARCH, "show option 2", "book it")
        assert reply.status == "completed"
        assert bookings(app.deps.engine) == [booked_row(offer(1))]


async def test_out_of_policy_booking_approved_by_the_manager(
    dev_server: DevServer, tmp_path: Path
) -> None:
    async with travel(dev_server, tmp_path) as app:
        chat = await app.chat()
        reply = await chat.say(OUT_OF_POLICY_SEARCH, "book option 1")
        assert reply.status == "awaiting_approval"
        _, status = await chat.pending()
        assert status.current_approvers[0] == "bob"
        # Neither the requester nor a colleague may decide; nothing changes when they try.
        for intruder in ("alice", "carol"):
            with pytest.raises(ApprovalError):
                await chat.vote(intruder, approve=True)
        assert bookings(app.deps.engine) == []

        await chat.vote("bob", approve=True)
        final = await within(app.agents.wait_for_turn(chat.conversation, reply.turn))
        assert final.status == "completed"
        assert bookings(app.deps.engine) == [booked_row(SHORT_BUSINESS, "alice", "bob")]


async def test_out_of_policy_booking_denied(dev_server: DevServer, tmp_path: Path) -> None:
    async with travel(dev_server, tmp_path) as app:
        chat = await app.chat()
        reply = await chat.say(OUT_OF_POLICY_SEARCH, "book option 1")
        await chat.vote("bob", approve=False)
        final = await within(app.agents.wait_for_turn(chat.conversation, reply.turn))
        assert final.status == "completed"
        assert bookings(app.deps.engine) == []


async def test_out_of_policy_booking_expired(dev_server: DevServer, tmp_path: Path) -> None:
    async with travel(dev_server, tmp_path) as app:
        chat = await app.chat(options=QUICK_EXPIRY)
        reply = await chat.say(OUT_OF_POLICY_SEARCH, "book option 1")
        approval_id, status = await chat.pending()
        final = await within(app.agents.wait_for_turn(chat.conversation, reply.turn))
        assert final.status == "completed"
        late = ApprovalVote(digest=status.request.digest, approver="bob", approve=True)
        with pytest.raises(ApprovalError):
            await app.agents.decide(approval_id, late)
        assert bookings(app.deps.engine) == []


async def test_hard_cap_refused_without_asking_anyone(
    dev_server: DevServer, tmp_path: Path
) -> None:
    async with travel(dev_server, tmp_path, policy=TravelPolicy(fare_cap=100, hard_cap=150)) as app:
        chat = await app.chat()
        reply = await chat.say(SEARCH, "book option 1")
        assert (reply.status, reply.approvals) == ("completed", ())
        assert "above the hard cap" in reply.output
        assert bookings(app.deps.engine) == []


async def test_cancelling_another_employees_trip_is_refused(
    dev_server: DevServer, tmp_path: Path
) -> None:
    async with travel(dev_server, tmp_path) as app:
        alice = await app.chat("alice")
        await alice.say(SEARCH, "book option 1")
        carol = await app.chat("carol")
        reply = await carol.say("cancel booking 1")
        assert "you have no booking 1" in reply.output
        assert bookings(app.deps.engine) == [booked_row(offer(0))]


async def test_injected_instructions_book_only_the_confirmed_offer(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """A hijacked model obeys a fare note: the CEO's 4,800 EUR first-class fare is under the hard
    cap, but the employee confirmed option 1, so it is refused before any approver is asked."""
    model = FunctionModel(hijacked(4_800.0))
    async with travel(dev_server, tmp_path, model, flights=PoisonedFlights(4_800.0)) as app:
        chat = await app.chat()
        reply = await chat.say(SEARCH, "book option 1")
        assert (reply.status, reply.approvals) == ("completed", ())
        assert bookings(app.deps.engine) == [booked_row(offer(0))]


async def test_injected_fare_above_the_hard_cap_never_reaches_an_approver(
    dev_server: DevServer, tmp_path: Path
) -> None:
    model = FunctionModel(hijacked(9_600.0))
    async with travel(dev_server, tmp_path, model, flights=PoisonedFlights(9_600.0)) as app:
        chat = await app.chat()
        reply = await chat.say(SEARCH, "book option 1")
        assert (reply.status, reply.approvals) == ("completed", ())
        assert bookings(app.deps.engine) == [booked_row(offer(0))]
