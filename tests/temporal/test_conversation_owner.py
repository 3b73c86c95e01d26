"""Who speaks in a conversation: its owner (and the parties it allows), on every path."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typer.testing import CliRunner

from agentflow import InvalidInput, NotParticipant
from agentflow.audit import configure_tracing
from agentflow.cli import app
from agentflow.temporal import AgentClient, DevServer, create_worker
from tests.temporal.support import bookings, engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Env:
    def __init__(self, agents: AgentClient, agent: str, queue: str, address: str) -> None:
        self.agents, self.agent, self.queue, self.address = agents, agent, queue, address


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[Env]:
    client = await dev_server.client()
    queue = f"owner-{uuid.uuid4().hex}"
    agent = make_agent(f"owner-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    async with create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: engine}):
        yield Env(AgentClient(client, task_queue=queue), agent.name, queue, dev_server.address)


async def test_another_user_cannot_write_in_a_conversation(env: Env) -> None:
    conversation = await env.agents.start_conversation(env.agent, user="alice")
    await env.agents.send(conversation, "hello", sender="alice")
    before = await env.agents.transcript(conversation)

    with pytest.raises(NotParticipant, match="mallory may not write in this conversation"):
        await env.agents.send(conversation, "book LX14 800", sender="mallory")
    with pytest.raises(NotParticipant, match="must say who sends it"):
        await env.agents.send(conversation, "book LX14 800")

    assert (await env.agents.transcript(conversation)).messages == before.messages


async def test_a_party_the_conversation_allows_may_write(env: Env) -> None:
    conversation = await env.agents.start_conversation(
        env.agent, user="alice", participants=("assistant-to-alice",)
    )
    reply = await env.agents.send(conversation, "hello", sender="assistant-to-alice")
    assert reply.status == "completed"
    with pytest.raises(InvalidInput):
        await env.agents.send(conversation, "hello", sender="mallory")


async def test_the_sender_is_on_the_message_span_and_a_refusal_is_recorded(
    env: Env, tmp_path: Path
) -> None:
    exported = InMemorySpanExporter()
    tracing = configure_tracing(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}", exporters=[exported], otlp=False
    )
    try:
        agents = AgentClient(env.agents.client, task_queue=env.queue, tracer_provider=tracing)
        conversation = await agents.start_conversation(env.agent, user="alice")
        await agents.send(conversation, "hello", sender="alice")
        with pytest.raises(NotParticipant):
            await agents.send(conversation, "list my trips", sender="mallory")
        assert tracing.force_flush()
    finally:
        tracing.shutdown()
    messages = [s for s in exported.get_finished_spans() if s.name == "user message"]
    attributes = [dict(s.attributes or {}) for s in messages]
    assert [(a.get("enduser.id"), a.get("agentflow.reply.status")) for a in attributes] == [
        ("alice", "completed"),
        ("mallory", "rejected"),
    ]
    assert "mallory may not write" in str(attributes[1].get("agentflow.message.rejection"))


async def test_the_terminal_chat_refuses_to_continue_someone_elses_conversation(
    env: Env, tmp_path: Path
) -> None:
    conversation = await env.agents.start_conversation(env.agent, user="alice")
    command = ["chat", "--as", "mallory", "--conversation", conversation]
    environment = {
        "TEMPORAL_ADDRESS": env.address,
        "AGENTFLOW_TASK_QUEUE": env.queue,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'audit.db'}",
    }
    result = await asyncio.to_thread(
        CliRunner().invoke, app, command, input="book LX14 800\n", env=environment
    )
    assert result.exit_code == 2, result.output
    assert "mallory may not write in this conversation" in result.stderr
    assert "Traceback" not in result.output
    assert (await env.agents.transcript(conversation)).messages == ()
    assert bookings_made(tmp_path) == 0


def bookings_made(tmp_path: Path) -> int:
    return len(bookings(engine_for(tmp_path / "bookings.db")))
