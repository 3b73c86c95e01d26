"""Live text on Temporal: the model's text reaches the client while the call goes on, outside
workflow history, on SQLite and PostgreSQL, and losing it loses nothing.

The model call is an activity; its text goes through the application database
(`agentflow.temporal.live`), never through the workflow. Ordering, not timing: the model
(a double, or a real adapter against a stand-in server that holds its stream half-way) waits
until the client has seen the first piece, so that piece cannot have come from the step or
the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from agentflow import Agent
from agentflow.events import ModelRetrying, TextDelta
from agentflow.messages import ModelRequest, ModelResponse
from agentflow.models.anthropic import AnthropicModel
from agentflow.models.base import Model
from agentflow.models.deltas import report_delta
from agentflow.models.openai import OpenAIModel
from agentflow.temporal import AgentClient, AgentReply, DevServer, Step, create_worker
from agentflow.temporal.live import STALE_AFTER, LiveText
from agentflow.testing import FunctionModel, text_response
from agentflow.testing.anthropic_server import HOLD_LIMIT, FakeAnthropicServer, message_body
from agentflow.testing.anthropic_server import ScriptedResponse as Scripted
from agentflow.testing.openai_server import FakeOpenAIServer, completion_body
from tests.databases import engine_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}
Item = Step | TextDelta | ModelRetrying | AgentReply


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from engine_for(request.param, tmp_path / "live.db", "live")


def held_model(gate: asyncio.Event, *, first: str, rest: str, answer: str) -> FunctionModel:
    """Reports ``first``, waits for ``gate``, reports ``rest``, answers ``answer``.

    Without a client that sees the first piece, it goes on after `HOLD_LIMIT` seconds
    (and the test fails on what the client saw), rather than hang.
    """

    async def respond(request: ModelRequest) -> ModelResponse:
        report_delta(first)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gate.wait(), HOLD_LIMIT)
        report_delta(rest)
        return text_response(answer)

    return FunctionModel(respond)


async def follow(stream: AsyncIterator[Item], gate: asyncio.Event | threading.Event) -> list[Item]:
    """Every item of ``stream``; the gate opens once the first piece of text has come."""
    items: list[Item] = []
    async for item in stream:
        if isinstance(item, TextDelta) and not gate.is_set():
            # Nothing of the turn has finished: the piece came while the model was writing.
            assert not any(isinstance(i, AgentReply) for i in items)
            assert not any(isinstance(i, Step) and i.kind == "model_call" for i in items)
            gate.set()
        items.append(item)
    return items


def history_bytes(events: list[Any]) -> bytes:
    return b"".join(event.SerializeToString() for event in events)


async def history(client: Client, conversation: str) -> list[Any]:
    handle = client.get_workflow_handle(conversation)
    return [event async for event in handle.fetch_history_events()]


async def test_text_reaches_the_client_while_the_call_goes_on_and_never_enters_history(
    dev_server: DevServer, engine: Engine
) -> None:
    client = await dev_server.client()
    live = LiveText(engine)
    gate = asyncio.Event()
    # The pieces are not the answer's words: only the live text can have carried them.
    agent = Agent(
        held_model(gate, first="PIECE-ONE ", rest="PIECE-TWO", answer="The final answer."),
        name=f"live-{uuid.uuid4().hex[:8]}",
    )
    queue = f"live-{uuid.uuid4().hex}"
    async with create_worker(client, [agent], task_queue=queue, live_text=live):
        agents = AgentClient(client, task_queue=queue, live_text=live)
        conversation = await agents.start_conversation(agent.name, user="ann")
        items = await follow(agents.stream(conversation, "hello", sender="ann"), gate)

    *_, reply = items
    assert isinstance(reply, AgentReply) and reply.output == "The final answer."
    deltas = [i.text for i in items if isinstance(i, TextDelta)]
    assert deltas[0] == "PIECE-ONE "  # the second piece may end with the call, unread
    kinds = [i.kind if isinstance(i, Step) else type(i).__name__ for i in items]
    assert kinds.index("TextDelta") < kinds.index("model_call")
    recorded = history_bytes(await history(client, conversation))
    assert b"PIECE-ONE" not in recorded and b"PIECE-TWO" not in recorded
    assert b"The final answer." in recorded
    # Bounded: the call's rows went with it.
    assert await live.read(conversation) == []


async def test_history_is_the_same_however_many_pieces_were_streamed(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    live = LiveText.from_url(f"sqlite:///{tmp_path / 'live.db'}")

    def model(pieces: int) -> FunctionModel:
        async def respond(request: ModelRequest) -> ModelResponse:
            for n in range(pieces):
                report_delta(f"{n:04d}")
                await asyncio.sleep(0)
            return text_response("done")

        return FunctionModel(respond)

    recorded: list[tuple[list[int], list[bytes]]] = []
    for pieces in (1, 400):
        agent = Agent(model(pieces), name=f"live-{uuid.uuid4().hex[:8]}")
        queue = f"live-{uuid.uuid4().hex}"
        async with create_worker(client, [agent], task_queue=queue, live_text=live):
            agents = AgentClient(client, task_queue=queue, live_text=live)
            conversation = await agents.start_conversation(agent.name, user="ann")
            assert (await agents.send(conversation, "go", sender="ann")).output == "done"
            events = await history(client, conversation)
            # Workflow tasks come and go with timing (a query, a worker's start); the rest is
            # what the conversation recorded.
            kinds = [e.event_type for e in events if e.event_type not in WORKFLOW_TASK_EVENTS]
            results = [
                e.activity_task_completed_event_attributes.result.SerializeToString()
                for e in events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            ]
            recorded.append((kinds, results))
    assert recorded[0] == recorded[1]


@pytest.fixture(params=["anthropic", "openai"])
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[Model, threading.Event]]:
    hold = threading.Event()
    if request.param == "anthropic":
        body = message_body([{"type": "text", "text": "Your flight to Zurich is LX318."}])
        with FakeAnthropicServer(Scripted(200, body, hold=hold)) as server:
            yield AnthropicModel("claude-sonnet-5", api_key="k", base_url=server.base_url), hold
    else:
        body = completion_body(content="Your flight to Zurich is LX318.")
        with FakeOpenAIServer(Scripted(200, body, hold=hold)) as server:
            yield OpenAIModel("gpt-test", api_key="k", base_url=server.base_url), hold


async def test_both_providers_stream_through_the_activity(
    dev_server: DevServer, tmp_path: Path, provider: tuple[Model, threading.Event]
) -> None:
    """The adapter streams inside the activity; the stand-in holds its stream half-way."""
    model, hold = provider
    client = await dev_server.client()
    live = LiveText.from_url(f"sqlite:///{tmp_path / 'live.db'}")
    agent = Agent(model, name=f"live-{uuid.uuid4().hex[:8]}")
    queue = f"live-{uuid.uuid4().hex}"
    try:
        async with create_worker(client, [agent], task_queue=queue, live_text=live):
            agents = AgentClient(client, task_queue=queue, live_text=live)
            conversation = await agents.start_conversation(agent.name, user="ann")
            items = await follow(agents.stream(conversation, "to Zurich", sender="ann"), hold)
    finally:
        hold.set()
    *_, reply = items
    assert isinstance(reply, AgentReply) and reply.output == "Your flight to Zurich is LX318."
    deltas = "".join(i.text for i in items if isinstance(i, TextDelta))
    assert deltas and reply.output.startswith(deltas)


async def test_without_live_text_the_stream_is_steps_and_the_reply(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """A worker that writes it, a client that does not read it, and the other way round."""
    client = await dev_server.client()
    live = LiveText.from_url(f"sqlite:///{tmp_path / 'live.db'}")
    gate = asyncio.Event()
    gate.set()
    agent = Agent(
        held_model(gate, first="a", rest="b", answer="ab"), name=f"live-{uuid.uuid4().hex[:8]}"
    )
    for worker_live, client_live in ((live, None), (None, live)):
        queue = f"live-{uuid.uuid4().hex}"
        async with create_worker(client, [agent], task_queue=queue, live_text=worker_live):
            agents = AgentClient(client, task_queue=queue, live_text=client_live)
            conversation = await agents.start_conversation(agent.name, user="ann")
            items = [i async for i in agents.stream(conversation, "hi", sender="ann")]
        assert not any(isinstance(i, TextDelta) for i in items)
        assert isinstance(items[-1], AgentReply) and items[-1].output == "ab"


async def test_a_broken_live_text_loses_nothing(dev_server: DevServer, tmp_path: Path) -> None:
    """The database is gone for the writer and the reader: the answer comes whole all the same."""
    client = await dev_server.client()
    broken = LiveText.from_url(f"sqlite:///{tmp_path / 'live.db'}")
    with broken.engine.begin() as connection:
        # Something else holds the table's name: every write and read fails.
        connection.execute(sa.text("CREATE TABLE agentflow_alembic_version (version_num TEXT)"))
        connection.execute(sa.text("INSERT INTO agentflow_alembic_version VALUES ('live_0001')"))
    gate = asyncio.Event()
    gate.set()
    agent = Agent(
        held_model(gate, first="The ", rest="answer", answer="The answer, whole."),
        name=f"live-{uuid.uuid4().hex[:8]}",
    )
    queue = f"live-{uuid.uuid4().hex}"
    async with create_worker(client, [agent], task_queue=queue, live_text=broken):
        agents = AgentClient(client, task_queue=queue, live_text=broken)
        conversation = await agents.start_conversation(agent.name, user="ann")
        items = [i async for i in agents.stream(conversation, "hi", sender="ann")]
    assert isinstance(items[-1], AgentReply) and items[-1].output == "The answer, whole."
    assert [i.kind for i in items if isinstance(i, Step)] == ["user_message", "model_call", "reply"]


async def test_a_stream_left_early_still_gets_its_answer(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    live = LiveText.from_url(f"sqlite:///{tmp_path / 'live.db'}")
    gate = asyncio.Event()
    agent = Agent(
        held_model(gate, first="Partly ", rest="written", answer="Partly written, then whole."),
        name=f"live-{uuid.uuid4().hex[:8]}",
    )
    queue = f"live-{uuid.uuid4().hex}"
    async with create_worker(client, [agent], task_queue=queue, live_text=live):
        agents = AgentClient(client, task_queue=queue, live_text=live)
        conversation = await agents.start_conversation(agent.name, user="ann")
        stream = agents.stream(conversation, "hi", sender="ann")
        async for item in stream:
            if isinstance(item, TextDelta):
                break  # the reader goes away mid-answer
        await stream.aclose()
        gate.set()
        reply = await agents.wait_for_turn(conversation, 1)
    assert reply.output == "Partly written, then whole."
    assert await live.read(conversation) == []


async def test_rows_a_lost_worker_left_are_swept_and_never_shown(tmp_path: Path) -> None:
    live = LiveText.from_url(f"sqlite:///{tmp_path / 'live.db'}")
    assert await live.last_id("conv-old") == 0  # the table is made on first use
    # A worker lost mid-call never deletes its rows.
    old = datetime.now(UTC) - STALE_AFTER * 2
    with live.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO agentflow_live_text "
                "(conversation_id, call, attempt, restart, text, written_at) "
                "VALUES ('conv-old', 'lost/1', 1, 0, 'left behind', :t)"
            ),
            {"t": old},
        )
    assert [p.text for p in await live.read("conv-old")] == ["left behind"]
    # A client that starts reading now starts after them.
    assert await live.last_id("conv-old") == 1
    # Another call's end sweeps them.
    async with live.open("conv-new", "run/2"):
        pass
    assert await live.read("conv-old") == []
