"""AgentWorkflow on a real dev server: turns, approvals, hostile input, streaming, replay."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from agentflow import ApprovalError, InvalidInput
from agentflow.temporal import (
    AgentClient,
    AgentReply,
    ApprovalVote,
    DevServer,
    DurableOptions,
    Step,
    create_worker,
)
from agentflow.temporal.worker import workflow_classes, workflow_runner
from agentflow.testing.channels import RecordingChannel
from tests.temporal.support import REPLAY_AGENT, bookings, engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECORDED = Path(__file__).parent / "histories"


@dataclass
class Env:
    client: Client
    agents: AgentClient
    agent: str
    engine: Engine
    channel: RecordingChannel

    async def start(self, user: str = "alice") -> str:
        return await self.agents.start_conversation(self.agent, user=user)


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[Env]:
    client = await dev_server.client()
    queue = f"agents-{uuid.uuid4().hex}"
    agent = make_agent(f"booker-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    channel = RecordingChannel()
    worker = create_worker(
        client, [agent], task_queue=queue, deps={agent.name: lambda: engine}, channel=channel
    )
    async with worker:
        yield Env(client, AgentClient(client, task_queue=queue), agent.name, engine, channel)


async def test_in_policy_booking_completes_in_one_turn(env: Env) -> None:
    conversation = await env.start()
    reply = await env.agents.send(conversation, "book LX14 800", sender="alice")
    assert (reply.turn, reply.status) == (1, "completed")
    assert reply.output.startswith("Booked: ")
    (booking,) = bookings(env.engine)
    assert (booking.flight_id, booking.price, booking.traveller) == ("LX14", 800.0, "alice")
    assert booking.idempotency_key == f"{conversation}:call-book"


async def test_out_of_policy_booking_waits_for_the_right_approver(env: Env) -> None:
    conversation = await env.start()
    reply = await env.agents.send(conversation, "book LX14 2400", sender="alice")
    assert reply.status == "awaiting_approval"
    (request,) = reply.approvals
    assert (request.requester, request.approvers) == ("alice", ("bob",))

    pending = dict(await env.agents.pending_approvals(conversation))
    approval_id = f"{conversation}/approval/call-book"
    assert pending[approval_id].request == request

    for vote in (
        ApprovalVote(digest=request.digest, approver="mallory", approve=True),
        ApprovalVote(digest=request.digest, approver="alice", approve=True),
        ApprovalVote(digest="0" * 64, approver="bob", approve=True),
    ):
        with pytest.raises(ApprovalError):
            await env.agents.decide(approval_id, vote)
    assert bookings(env.engine) == []
    assert (await env.agents.approval_status(approval_id)).state == "pending"

    await env.agents.decide(
        approval_id, ApprovalVote(digest=request.digest, approver="bob", approve=True)
    )
    final = await env.agents.wait_for_turn(conversation, 1)

    assert final.status == "completed" and final.output.startswith("Booked: ")
    assert [(b.flight_id, b.price) for b in bookings(env.engine)] == [("LX14", 2400.0)]
    assert env.channel.kinds(approval_id) == ["requested", "decided"]


async def test_denied_approval_books_nothing_and_tells_the_model(env: Env) -> None:
    conversation = await env.start()
    reply = await env.agents.send(conversation, "book LX15 3000", sender="alice")
    (request,) = reply.approvals
    approval_id = f"{conversation}/approval/call-book"
    vote = ApprovalVote(digest=request.digest, approver="bob", approve=False, reason="too pricey")
    await env.agents.decide(approval_id, vote)
    final = await env.agents.wait_for_turn(conversation, 1)
    assert final.output == "Failed: Approval denied by bob: too pricey"
    assert bookings(env.engine) == []


async def test_hard_cap_is_refused_without_asking_anyone(env: Env) -> None:
    conversation = await env.start()
    reply = await env.agents.send(conversation, "book LX16 9000", sender="alice")
    assert reply.status == "completed"
    assert "above the hard cap" in reply.output
    assert bookings(env.engine) == []
    assert await env.agents.pending_approvals(conversation) == []


@pytest.mark.parametrize("text", ["", "   ", "x" * 40_000])
async def test_unusable_messages_are_rejected_before_history(env: Env, text: str) -> None:
    conversation = await env.start()
    await env.agents.send(conversation, "hello", sender="alice")
    with pytest.raises(InvalidInput):
        await env.agents.send(conversation, text, sender="alice")
    transcript = await env.agents.transcript(conversation)
    assert len(transcript.messages) == 2
    history = await env.client.get_workflow_handle(conversation).fetch_history()
    assert (
        sum(
            e.HasField("workflow_execution_update_accepted_event_attributes")
            for e in history.events
        )
        == 1
    )


async def test_stream_yields_each_step_then_the_reply(env: Env) -> None:
    conversation = await env.start()
    items = [
        item async for item in env.agents.stream(conversation, "book LX14 500", sender="alice")
    ]
    steps = [i for i in items if isinstance(i, Step)]
    assert [s.kind for s in steps] == [
        "user_message",
        "model_call",
        "tool_call",
        "model_call",
        "reply",
    ]
    assert [s.index for s in steps] == list(range(5))
    reply = items[-1]
    assert isinstance(reply, AgentReply) and reply.status == "completed"


async def test_long_conversations_continue_as_new_with_their_state(env: Env) -> None:
    options = DurableOptions(continue_as_new_after_messages=4)
    conversation = await env.agents.start_conversation(env.agent, user="alice", options=options)
    first = await env.agents.send(conversation, "book LX14 800", sender="alice")
    second = await env.agents.send(conversation, "hello again", sender="alice")

    assert (first.turn, second.turn) == (1, 2)
    assert second.output == "You said: hello again"
    description = await env.client.get_workflow_handle(conversation).describe()
    first_run = description.raw_description.workflow_execution_info.first_run_id
    assert description.run_id != first_run, "the conversation did not continue as new"
    transcript = await env.agents.transcript(conversation)
    assert [m.role for m in transcript.messages] == ["user", "assistant"] * 3
    assert len(bookings(env.engine)) == 1


async def test_recorded_histories_replay_without_nondeterminism(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """Replays this run's histories and every history committed under ``histories/``.

    ``AGENTFLOW_RECORD_HISTORIES=1`` saves this run's histories there: commit them when the
    workflows change in a way that running conversations must survive. The conversation runs in
    the checking sandbox (the workflow modules anew for every run, under the sandbox's checks);
    its histories then replay as workers run them, passed through.
    """
    client = await dev_server.client()
    queue = f"replay-{uuid.uuid4().hex}"
    engine = engine_for(tmp_path / "bookings.db")
    agent = REPLAY_AGENT
    worker = create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: engine},
        workflow_runner=workflow_runner(checked=True),
    )
    async with worker:
        env = Env(
            client, AgentClient(client, task_queue=queue), agent.name, engine, RecordingChannel()
        )
        histories = await record_conversation(env)
    if os.environ.get("AGENTFLOW_RECORD_HISTORIES") == "1":
        RECORDED.mkdir(exist_ok=True)
        for history in histories:
            # The workflow id is part of what replays (child ids derive from it): keep it.
            name = history.workflow_id.replace("/", "__")
            (RECORDED / f"{name}.json").write_text(history.to_json())
    for path in sorted(RECORDED.glob("*.json")):
        workflow_id = path.stem.replace("__", "/")
        histories.append(WorkflowHistory.from_json(workflow_id, path.read_text()))
    replayer = Replayer(
        workflows=workflow_classes(),
        workflow_runner=workflow_runner(),
        data_converter=client.data_converter,
    )
    results = [await replayer.replay_workflow(h, raise_on_replay_failure=False) for h in histories]
    assert [r.replay_failure for r in results] == [None] * len(histories)


async def record_conversation(env: Env) -> list[WorkflowHistory]:
    conversation = await env.start()
    reply = await env.agents.send(conversation, "book LX14 2400", sender="alice")
    (request,) = reply.approvals
    approval_id = f"{conversation}/approval/call-book"
    await env.agents.decide(
        approval_id, ApprovalVote(digest=request.digest, approver="bob", approve=True)
    )
    await env.agents.wait_for_turn(conversation, 1)
    await env.agents.send(conversation, "thanks", sender="alice")
    return [
        await env.client.get_workflow_handle(conversation).fetch_history(),
        await env.client.get_workflow_handle(approval_id).fetch_history(),
    ]
