"""A conversation continues as new once a run has added ``continue_as_new_after_messages``.

Counted per run, between turns as within a long one: a conversation past the limit does not
continue as new after every turn (each continue-as-new copies the whole transcript into history
twice, so counting the whole transcript made history grow with the square of the conversation),
nor does one reopened after it ended idle. Histories recorded by the rule before (the whole
transcript, between turns) still replay: see the ``continued-between-turns`` phase of
``test_phase_histories``.
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

from agentflow.temporal import AgentClient, DevServer, DurableOptions, create_worker
from agentflow.temporal.contracts import AgentWorkflowInput
from tests.temporal.support import bookings, engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMIT = 4
"""The smallest ``continue_as_new_after_messages``: a short turn adds 2 messages, a booking 4."""


@dataclass
class Run:
    """One run of a conversation, as its start event has it."""

    run_id: str
    input: AgentWorkflowInput
    continued_from: str | None
    status: WorkflowExecutionStatus | None = None

    @property
    def messages(self) -> int:
        """The messages the run started with."""
        state = self.input.state
        return 0 if state is None else len(state.messages)


@dataclass
class Env:
    client: Client
    agents: AgentClient
    agent: str
    engine: Engine

    async def start(self, idle: timedelta | None = None) -> str:
        options = DurableOptions(continue_as_new_after_messages=LIMIT, idle_timeout=idle)
        return await self.agents.start_conversation(self.agent, user="alice", options=options)

    async def runs(self, conversation: str) -> list[Run]:
        """Every run of ``conversation``, first first: continued as new, or reopened."""
        found: list[Run] = []
        run_id: str | None = (await self.client.get_workflow_handle(conversation).describe()).run_id
        while run_id:
            handle = self.client.get_workflow_handle(conversation, run_id=run_id)
            history = await handle.fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            (start,) = await self.client.data_converter.decode(
                started.input.payloads, [AgentWorkflowInput]
            )
            assert isinstance(start, AgentWorkflowInput)
            run = Run(run_id, start, started.continued_execution_run_id or None)
            run.status = (await handle.describe()).status
            found.insert(0, run)
            run_id = run.continued_from or start.reopened_from
        return found

    async def settled(self, conversation: str, messages: int) -> list[Run]:
        """The runs, once the latest has started with ``messages`` messages and waits.

        A reply is sent before its run continues as new: a run to come is not there yet.
        """
        async with asyncio.timeout(20):
            while True:
                runs = await self.runs(conversation)
                latest = runs[-1]
                if latest.messages >= messages and latest.status == WorkflowExecutionStatus.RUNNING:
                    return runs
                await asyncio.sleep(0.1)

    async def said(self, conversation: str) -> list[str]:
        transcript = (await self.agents.transcript(conversation)).messages
        return [m.text for m in transcript if m.role == "user" and m.text]

    async def ended(self, conversation: str) -> None:
        handle = self.client.get_workflow_handle(conversation)
        async with asyncio.timeout(20):
            while (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
                await asyncio.sleep(0.1)


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[Env]:
    client = await dev_server.client()
    queue = f"can-{uuid.uuid4().hex}"
    agent = make_agent(f"can-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    async with create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: engine}):
        yield Env(client, AgentClient(client, task_queue=queue), agent.name, engine)


async def test_short_turns_continue_as_new_every_limit_messages_not_after_each_turn(
    env: Env,
) -> None:
    conversation = await env.start()
    for n in range(1, 7):
        reply = await env.agents.send(conversation, f"hello {n}", sender="alice")
        assert (reply.turn, reply.output, reply.continued) == (n, f"You said: hello {n}", False)

    runs = await env.settled(conversation, 12)
    # Two turns a run (four messages added); the whole transcript passed the limit after the
    # second turn, and counting it would have continued as new after each turn from then on.
    assert [r.messages for r in runs] == [0, 4, 8, 12]
    assert [r.input.next_turn for r in runs] == [1, 3, 5, 7]
    assert [r.status for r in runs] == [WorkflowExecutionStatus.CONTINUED_AS_NEW] * 3 + [
        WorkflowExecutionStatus.RUNNING
    ]
    assert await env.said(conversation) == [f"hello {n}" for n in range(1, 7)]

    # A later turn works in the latest run, and the steps page back through all of them.
    booked = await env.agents.send(conversation, "book LX14 800", sender="alice")
    assert (booked.turn, booked.status) == (7, "completed")
    assert [(b.flight_id, b.price) for b in bookings(env.engine)] == [("LX14", 800.0)]
    steps = await env.agents.steps(conversation)
    assert [s.index for s in steps] == list(range(len(steps)))
    assert [s.turn for s in steps if s.kind == "reply"] == list(range(1, 8))


async def test_messages_queued_behind_a_turn_are_handed_over_to_the_next_run(env: Env) -> None:
    conversation = await env.start()
    # The booking's turn adds four messages: the run continues as new after it.
    assert (await env.agents.send(conversation, "book LX14 800", sender="alice")).turn == 1
    # Sent together, all but the first wait behind a turn: a run that continues as new after
    # its second turn hands those still queued to the next.
    queued = await asyncio.gather(
        *(env.agents.send(conversation, f"hello {n}", sender="alice") for n in range(2, 6))
    )
    assert sorted(r.turn for r in queued) == [2, 3, 4, 5]
    assert all(not r.continued and r.output.startswith("You said: hello ") for r in queued)

    runs = await env.settled(conversation, 12)
    assert [r.messages for r in runs] == [0, 4, 8, 12]
    said = await env.said(conversation)
    assert said[0] == "book LX14 800"
    assert sorted(said[1:]) == [f"hello {n}" for n in range(2, 6)]
    assert len(bookings(env.engine)) == 1
    assert len(await env.agents.steps(conversation)) == 5 + 4 * 3


async def test_a_conversation_reopened_past_the_limit_does_not_continue_after_its_first_turn(
    env: Env,
) -> None:
    conversation = await env.start(idle=timedelta(seconds=1))
    # Sent together, so that no idle time closes the conversation between them.
    await asyncio.gather(
        *(env.agents.send(conversation, f"hello {n}", sender="alice") for n in range(1, 4))
    )
    await env.ended(conversation)
    closed = (await env.runs(conversation))[-1]
    # 4 added in one run; 6 when the last messages came after a run had ended idle (a slow
    # machine), and the run they reopened started with the first turn's 2.
    assert closed.messages in (4, 6)

    reply = await env.agents.send(conversation, "hello again", sender="alice")
    assert (reply.turn, reply.output) == (4, "You said: hello again")
    await env.ended(conversation)  # idle again: closed by the run that answered, reopened
    *_, before, reopened = await env.runs(conversation)
    assert before.run_id == closed.run_id
    assert reopened.input.reopened_from == closed.run_id
    assert reopened.messages == 6 > LIMIT
    assert reopened.status == WorkflowExecutionStatus.COMPLETED

    # Two turns in the reopened run do add the limit: it continues as new after the second.
    replies = await asyncio.gather(
        env.agents.send(conversation, "one more", sender="alice"),
        env.agents.send(conversation, "and another", sender="alice"),
    )
    assert sorted(r.turn for r in replies) == [5, 6]
    runs = await env.settled(conversation, 12)
    assert [r.messages for r in runs[-2:]] == [8, 12]
    assert runs[-2].input.reopened_from is not None
    assert runs[-1].continued_from == runs[-2].run_id
    steps = await env.agents.steps(conversation)
    assert [s.turn for s in steps if s.kind == "reply"] == list(range(1, 7))
