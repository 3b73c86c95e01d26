"""An idle conversation ends, holding no worker memory, and the next message starts it again.

``DurableOptions.idle_timeout``: with no turn running and no message waiting for that long, the
conversation's workflow completes with its state as its result; ``AgentClient.send`` (and
``submit``) then start it again from that state with update-with-start.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowExecutionStatus

from agentflow.exceptions import NotParticipant
from agentflow.temporal import AgentClient, ApprovalVote, DevServer, DurableOptions, create_worker
from tests.temporal.support import bookings, engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

IDLE = timedelta(seconds=1)
ATTEMPTS = 12


@dataclass
class Env:
    client: Client
    agents: AgentClient
    agent: str
    engine: Engine

    async def start(self, idle: timedelta = IDLE) -> str:
        return await self.agents.start_conversation(
            self.agent, user="alice", options=DurableOptions(idle_timeout=idle)
        )

    async def status(self, conversation: str) -> WorkflowExecutionStatus | None:
        return (await self.client.get_workflow_handle(conversation).describe()).status

    async def ended(self, conversation: str, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while await self.status(conversation) != WorkflowExecutionStatus.COMPLETED:
                await asyncio.sleep(0.1)

    async def executions(self, conversation: str) -> int:
        found = [e async for e in self.client.list_workflows(f'WorkflowId = "{conversation}"')]
        return len(found)


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[Env]:
    client = await dev_server.client()
    queue = f"idle-{uuid.uuid4().hex}"
    agent = make_agent(f"idle-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    async with create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: engine}):
        yield Env(client, AgentClient(client, task_queue=queue), agent.name, engine)


async def test_an_idle_conversation_ends_and_the_next_message_reopens_it(env: Env) -> None:
    conversation = await env.start()
    first = await env.agents.send(conversation, "hello", sender="alice")
    assert (first.turn, first.output) == (1, "You said: hello")
    await env.ended(conversation)

    second = await env.agents.send(conversation, "book LX14 800", sender="alice")
    assert (second.turn, second.status) == (2, "completed")
    assert second.output.startswith("Booked: ")
    transcript = (await env.agents.transcript(conversation)).messages
    assert [m.text for m in transcript if m.role == "user" and m.text] == [
        "hello",
        "book LX14 800",
    ]
    steps = await env.agents.steps(conversation)
    assert [s.index for s in steps] == list(range(len(steps)))
    assert [s.turn for s in steps if s.kind == "reply"] == [1, 2]
    assert await env.executions(conversation) == 2
    # The reopened conversation is still alice's.
    with pytest.raises(NotParticipant):
        await env.agents.send(conversation, "hello", sender="mallory")
    await env.ended(conversation)
    with pytest.raises(NotParticipant):
        await env.agents.send(conversation, "hello", sender="mallory")


async def test_messages_sent_as_the_conversation_closes_are_all_answered(env: Env) -> None:
    conversation = await env.start(timedelta(milliseconds=300))
    for attempt in range(ATTEMPTS):
        # Across the moment the idle timer fires (a server's timers are late by up to about a
        # second): before it, as it fires, and after it.
        await asyncio.sleep(0.1 + 0.15 * attempt)
        reply = await env.agents.send(conversation, f"ping {attempt}", sender="alice")
        assert (reply.turn, reply.output) == (attempt + 1, f"You said: ping {attempt}")
    said = [
        m.text for m in (await env.agents.transcript(conversation)).messages if m.role == "user"
    ]
    assert said == [f"ping {i}" for i in range(ATTEMPTS)]
    assert await env.executions(conversation) > 1, "the conversation never closed"


async def test_two_messages_racing_the_reopen_both_land_in_one_run(env: Env) -> None:
    conversation = await env.start()
    await env.agents.send(conversation, "hello", sender="alice")
    await env.ended(conversation)

    replies = await asyncio.gather(
        env.agents.send(conversation, "one", sender="alice"),
        env.agents.send(conversation, "two", sender="alice"),
        env.agents.submit(conversation, "three", sender="alice"),
    )
    answered = sorted((r.turn, r.output) for r in replies if r is not None)
    assert [turn for turn, _ in answered] in ([2, 3], [2, 4], [3, 4])
    async with asyncio.timeout(20):
        while len((await env.agents.transcript(conversation)).messages) < 8:
            await asyncio.sleep(0.1)
    said = [
        m.text for m in (await env.agents.transcript(conversation)).messages if m.role == "user"
    ]
    assert said[0] == "hello" and sorted(said[1:]) == ["one", "three", "two"]
    assert await env.executions(conversation) == 2


async def test_a_pending_approval_keeps_the_conversation_open_past_its_idle_time(
    env: Env,
) -> None:
    conversation = await env.start()
    reply = await env.agents.send(conversation, "book LX14 2400", sender="alice")
    assert reply.status == "awaiting_approval"
    await asyncio.sleep(IDLE.total_seconds() * 3)
    assert await env.status(conversation) == WorkflowExecutionStatus.RUNNING

    (request,) = reply.approvals
    approval_id = f"{conversation}/approval/{request.tool_call_id}"
    await env.agents.decide(
        approval_id, ApprovalVote(digest=request.digest, approver="bob", approve=True)
    )
    final = await env.agents.wait_for_turn(conversation, 1)
    assert final.output.startswith("Booked: ")
    await env.ended(conversation)
    # The turn's reply is still there for a caller that asks after the close.
    later = await env.agents.send(conversation, "thanks", sender="alice")
    assert (later.turn, later.output) == (2, "You said: thanks")
    assert [(b.flight_id, b.price) for b in bookings(env.engine)] == [("LX14", 2400.0)]
