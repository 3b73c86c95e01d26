"""Real processes die: a worker killed mid-booking, a server restarted with approvals pending."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from agentflow.temporal import AgentClient, ApprovalVote, DevServer, DurableOptions, create_worker
from tests.temporal.support import bookings, engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]


def spawn_worker(
    address: str, queue: str, agent: str, db: Path, *, slow_marker: Path | None = None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("AGENTFLOW_TEST_SLOW_BOOKING", None)
    if slow_marker is not None:
        env["AGENTFLOW_TEST_SLOW_BOOKING"] = str(slow_marker)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.temporal.worker_main", address, queue, agent, str(db)],
        cwd=ROOT,
        env=env,
    )


async def wait_for(path: Path, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not path.exists():
            await asyncio.sleep(0.1)


async def test_worker_killed_mid_booking_books_exactly_once(
    dev_server: DevServer, tmp_path: Path
) -> None:
    queue, agent = f"crash-{uuid.uuid4().hex}", f"crash-{uuid.uuid4().hex[:8]}"
    db, marker = tmp_path / "bookings.db", tmp_path / "booked"
    engine = engine_for(db)
    agents = AgentClient(await dev_server.client(), task_queue=queue)
    first = spawn_worker(dev_server.address, queue, agent, db, slow_marker=marker)
    second: subprocess.Popen[bytes] | None = None
    try:
        options = DurableOptions(tool_timeout=timedelta(seconds=3))
        conversation = await agents.start_conversation(agent, user="alice", options=options)
        reply = asyncio.create_task(agents.send(conversation, "book LX14 800", sender="alice"))

        await wait_for(marker, timeout=60)  # the booking is committed, the activity still runs
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert len(bookings(engine)) == 1
        second = spawn_worker(dev_server.address, queue, agent, db)

        async with asyncio.timeout(90):
            answer = await reply
        assert answer.status == "completed" and answer.output.startswith("Booked: ")
        (booking,) = bookings(engine)
        assert booking.idempotency_key == f"{conversation}:call-book"
        history = await agents.client.get_workflow_handle(conversation).fetch_history()
        attempts = [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
        ]
        assert max(attempts) >= 2, "the booking activity was not retried after the kill"
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)


async def test_pending_approval_survives_a_server_restart(tmp_path: Path) -> None:
    queue, agent_obj = f"restart-{uuid.uuid4().hex}", make_agent(f"restart-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    deps = {agent_obj.name: lambda: engine}
    async with DevServer(db_file=tmp_path / "temporal.db") as server:
        client = await server.client()
        agents = AgentClient(client, task_queue=queue)
        async with create_worker(client, [agent_obj], task_queue=queue, deps=deps):
            conversation = await agents.start_conversation(agent_obj.name, user="alice")
            reply = await agents.send(conversation, "book LX14 2400", sender="alice")
            assert reply.status == "awaiting_approval"

        await server.restart()

        client = await server.client()
        agents = AgentClient(client, task_queue=queue)
        async with create_worker(client, [agent_obj], task_queue=queue, deps=deps):
            ((approval_id, status),) = await agents.pending_approvals(conversation)
            assert status.state == "pending" and bookings(engine) == []
            vote = ApprovalVote(digest=status.request.digest, approver="bob", approve=True)
            await agents.decide(approval_id, vote)
            final = await agents.wait_for_turn(conversation, 1)

    assert final.status == "completed"
    assert [(b.flight_id, b.price) for b in bookings(engine)] == [("LX14", 2400.0)]


async def test_two_workers_one_killed_mid_load_every_conversation_completes_once(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """Scale-out: two worker processes share a queue; one dies with work in hand.

    Its workflow tasks move to the other worker once their sticky queue times out, its
    activities are retried there after their timeout, and the idempotency key keeps a booking
    that committed before the kill from happening twice.
    """
    queue, agent = f"pair-{uuid.uuid4().hex}", f"pair-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "bookings.db"
    engine = engine_for(db)
    agents = AgentClient(await dev_server.client(), task_queue=queue)
    workers = [spawn_worker(dev_server.address, queue, agent, db) for _ in range(2)]
    try:
        # Short enough that the dead worker's activities move on soon, long enough that the
        # survivor, alone with thirty conversations on a loaded machine, finishes an attempt:
        # at 3 s, with the suite run twice at once on two cores, a turn ended in model_error.
        options = DurableOptions(
            tool_timeout=timedelta(seconds=10), model_timeout=timedelta(seconds=10)
        )
        conversations = [
            await agents.start_conversation(agent, user="alice", options=options) for _ in range(30)
        ]
        replies = [
            asyncio.create_task(agents.send(c, f"book LX{i} 800", sender="alice"))
            for i, c in enumerate(conversations)
        ]
        async with asyncio.timeout(60):
            while len(bookings(engine)) < 5:
                await asyncio.sleep(0.02)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        assert len(bookings(engine)) < 30, "the load was over before the kill"

        async with asyncio.timeout(120):
            answers = await asyncio.gather(*replies)
        assert [a.status for a in answers] == ["completed"] * 30
        assert all(a.output.startswith("Booked: ") for a in answers)
        booked = bookings(engine)
        assert sorted(b.idempotency_key for b in booked) == sorted(
            f"{c}:call-book" for c in conversations
        )
        assert sorted(b.flight_id for b in booked) == sorted(f"LX{i}" for i in range(30))
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
