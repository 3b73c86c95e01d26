"""A message that starts its conversation if there is none yet: one call, however many race.

``AgentClient.start_or_send`` is update-with-start: two first messages at once land in one
conversation, a stranger's message to someone else's is refused without changing it, and a
conversation that ended idle is reopened from its state, never started afresh.
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
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client, WorkflowExecutionStatus

from agentflow.audit import configure_tracing
from agentflow.exceptions import ConversationEnded, NotParticipant
from agentflow.temporal import AgentClient, DevServer, DurableOptions, create_worker
from tests.temporal.support import engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Env:
    client: Client
    agents: AgentClient
    agent: str

    async def said(self, conversation: str) -> list[str]:
        messages = (await self.agents.transcript(conversation)).messages
        return [m.text for m in messages if m.role == "user"]

    async def executions(self, conversation: str) -> int:
        found = [e async for e in self.client.list_workflows(f'WorkflowId = "{conversation}"')]
        return len(found)

    async def ended(self, conversation: str) -> None:
        handle = self.client.get_workflow_handle(conversation)
        async with asyncio.timeout(20):
            while (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
                await asyncio.sleep(0.1)


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[Env]:
    client = await dev_server.client()
    queue = f"start-or-send-{uuid.uuid4().hex}"
    agent = make_agent(f"sos-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    async with create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: engine}):
        yield Env(client, AgentClient(client, task_queue=queue), agent.name)


def new_id() -> str:
    return f"conv-{uuid.uuid4().hex}"


async def test_two_first_messages_at_once_land_in_one_conversation(env: Env) -> None:
    conversation = new_id()
    replies = await asyncio.gather(
        *(
            env.agents.start_or_send(conversation, text, agent=env.agent, user="alice")
            for text in ("one", "two")
        )
    )
    assert all(r.status == "completed" for r in replies)
    assert sorted(await env.said(conversation)) == ["one", "two"]
    assert await env.executions(conversation) == 1
    assert await env.agents.conversation_owner(conversation) == "alice"
    later = await env.agents.start_or_send(conversation, "three", agent=env.agent, user="alice")
    assert (later.turn, later.output) == (3, "You said: three")


async def test_the_first_message_starts_the_conversation_with_its_options(env: Env) -> None:
    conversation = new_id()
    reply = await env.agents.start_or_send(
        conversation,
        "hello",
        agent=env.agent,
        user="alice",
        participants=("assistant-to-alice",),
        options=DurableOptions(idle_timeout=timedelta(seconds=1)),
    )
    assert (reply.turn, reply.output) == (1, "You said: hello")
    await env.ended(conversation)  # the idle timeout it was started with
    again = await env.agents.send(conversation, "again", sender="assistant-to-alice")
    assert (again.turn, again.output) == (2, "You said: again")


async def test_another_users_message_is_refused_and_changes_nothing(env: Env) -> None:
    conversation = await env.agents.start_conversation(env.agent, user="alice")
    await env.agents.send(conversation, "hello", sender="alice")
    before = await env.agents.transcript(conversation)

    with pytest.raises(NotParticipant, match="mallory may not write in this conversation"):
        await env.agents.start_or_send(
            conversation, "book LX14 800", agent=env.agent, user="mallory"
        )

    assert (await env.agents.transcript(conversation)).messages == before.messages
    assert await env.agents.conversation_owner(conversation) == "alice"
    assert await env.executions(conversation) == 1


async def test_a_conversation_that_ended_idle_is_reopened_with_its_transcript(env: Env) -> None:
    conversation = await env.agents.start_conversation(
        env.agent, user="alice", options=DurableOptions(idle_timeout=timedelta(seconds=1))
    )
    await env.agents.send(conversation, "hello", sender="alice")
    await env.ended(conversation)

    replies = await asyncio.gather(
        *(
            env.agents.start_or_send(conversation, text, agent=env.agent, user="alice")
            for text in ("one", "two")
        )
    )
    assert sorted(r.turn for r in replies) == [2, 3]
    said = await env.said(conversation)
    assert said[0] == "hello" and sorted(said[1:]) == ["one", "two"]
    assert await env.executions(conversation) == 2
    # Reopened, it is still alice's, closed or not.
    with pytest.raises(NotParticipant):
        await env.agents.start_or_send(conversation, "hi", agent=env.agent, user="mallory")
    await env.ended(conversation)
    with pytest.raises(NotParticipant):
        await env.agents.start_or_send(conversation, "hi", agent=env.agent, user="mallory")
    assert (await env.said(conversation))[0] == "hello"


async def test_a_conversation_that_ended_for_good_stays_ended(env: Env) -> None:
    conversation = await env.agents.start_conversation(env.agent, user="alice")
    await env.agents.send(conversation, "hello", sender="alice")
    await env.client.get_workflow_handle(conversation).terminate("ended by an operator")

    with pytest.raises(ConversationEnded) as sent:
        await env.agents.send(conversation, "hi", sender="alice")
    with pytest.raises(ConversationEnded) as started:
        await env.agents.start_or_send(conversation, "hi", agent=env.agent, user="alice")
    assert str(started.value) == str(sent.value)
    assert str(sent.value).startswith(f"{conversation} has ended: ")
    assert await env.executions(conversation) == 1


async def test_the_audit_trail_has_one_trace_per_conversation_started_this_way(
    env: Env, tmp_path: Path
) -> None:
    exported = InMemorySpanExporter()
    tracing = configure_tracing(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}", exporters=[exported], otlp=False
    )
    conversation = new_id()
    try:
        agents = AgentClient(env.client, task_queue=env.agents.task_queue, tracer_provider=tracing)
        await agents.start_or_send(conversation, "hello", agent=env.agent, user="alice")
        await agents.start_or_send(conversation, "again", agent=env.agent, user="alice")
        with pytest.raises(NotParticipant):
            await agents.start_or_send(conversation, "hi", agent=env.agent, user="mallory")
        assert tracing.force_flush()
    finally:
        tracing.shutdown()
    spans = exported.get_finished_spans()
    (root,) = [s for s in spans if s.name == f"invoke_agent {env.agent}" and s.parent is None]
    messages = [s for s in spans if s.name == "user message"]
    assert [(s.attributes or {}).get("enduser.id") for s in messages] == [
        "alice",
        "alice",
        "mallory",
    ]
    assert root.context is not None
    assert {s.context.trace_id for s in messages if s.context} == {root.context.trace_id}
