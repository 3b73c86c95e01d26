"""A deploy that does not replay running conversations pauses them, visibly, and loses nothing.

The conversation waits for an approval on the old code; the new worker's agent no longer has the
tool the history called, so its workflow task fails on replay and Temporal retries it for ever.
The employee and the manager get one line saying the conversation is paused by an upgrade,
``agentflow doctor`` names it, and serving it with the old code again resumes it where it was.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from agentflow import Agent, WorkflowPaused
from agentflow.approvals import ApprovalDesk, OrgChart
from agentflow.temporal import AgentClient, DevServer, create_worker, registry
from agentflow.temporal.health import TAIL_PAGE, last_task_outcome, stuck_workflows
from agentflow.testing import FunctionModel, text_response
from tests.approvals.org import seed
from tests.temporal.support import bookings, engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]


def changed(name: str) -> Agent[Any]:
    """The new code: the tool the running conversation called is gone."""
    return Agent(FunctionModel(lambda request: text_response("hi")), name=name)


def serve_only(agent: Agent[Any]) -> None:
    """This process's worker serves ``agent`` under its name from now on (a new deploy)."""
    registry._agents.pop(agent.name, None)  # pyright: ignore[reportPrivateUsage]


def doctor(queue: str, address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentflow.cli", "doctor", "--task-queue", queue],
        cwd=ROOT,
        env={**os.environ, "TEMPORAL_ADDRESS": address, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_conversation_the_new_code_cannot_replay_is_paused_then_resumes(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    queue = f"paused-{uuid.uuid4().hex}"
    name = f"paused-{uuid.uuid4().hex[:8]}"
    engine = engine_for(tmp_path / "bookings.db")
    old = make_agent(name)
    agents = AgentClient(client, task_queue=queue)
    desk = ApprovalDesk(agents, seed(OrgChart(engine_for(tmp_path / "org.db"))))
    deps = {name: lambda: engine}

    async with create_worker(client, [old], task_queue=queue, deps=deps):
        conversation = await agents.start_conversation(name, user="alice")
        reply = await agents.send(conversation, "book LX14 2400", sender="alice")
        (request,) = reply.approvals
    approval_id = f"{conversation}/approval/{request.tool_call_id}"

    serve_only(old)
    new = changed(name)
    async with create_worker(client, [new], task_queue=queue, deps=deps):
        # The employee: one line, whether they write or look.
        with pytest.raises(WorkflowPaused, match=f"the conversation {conversation} is paused"):
            await agents.send(conversation, "anything new?", sender="alice")
        started = time.monotonic()
        with pytest.raises(WorkflowPaused, match="paused by an upgrade: nothing is lost"):
            await agents.transcript(conversation)
        assert time.monotonic() - started < 5

        # The manager: the approval itself is fine and takes the decision, and says it waits.
        result = await desk.decide(approval_id, "bob", approve=True, digest=request.digest)
        assert result.decision.outcome == "approved"
        paused = await desk.paused_conversation(approval_id)
        assert paused is not None and f"conversation {conversation} is paused" in paused
        assert bookings(engine) == []

        # The operator: doctor names it and why; the approval is not stuck.
        (stuck,) = await stuck_workflows(client, queue)
        assert (stuck.workflow_id, stuck.workflow_type) == (conversation, "AgentWorkflow")
        assert "Nondeterminism" in stuck.reason and stuck.attempts >= 1
        report = await asyncio.to_thread(doctor, queue, dev_server.address)
        assert report.returncode == 1, report.stdout + report.stderr
        assert f"stuck: {conversation} (AgentWorkflow)" in report.stdout
        assert "Traceback" not in report.stdout + report.stderr

    # Rolled back: the old code replays it, the approval reaches the call, nothing was lost.
    serve_only(new)
    async with create_worker(client, [old], task_queue=queue, deps=deps):
        # Temporal retries a failing task with a growing back-off: the old worker takes the
        # next attempt (seconds here, a few minutes at most after a long outage).
        async with asyncio.timeout(120):
            while await stuck_workflows(client, queue):
                await asyncio.sleep(0.5)
        final = await agents.wait_for_turn(conversation, 1)
        assert final.status == "completed" and final.output.startswith("Booked: ")
        assert [(b.flight_id, b.price) for b in bookings(engine)] == [("LX14", 2400.0)]
        assert await desk.paused_conversation(approval_id) is None
        assert await stuck_workflows(client, queue) == []
        clean = await asyncio.to_thread(doctor, queue, dev_server.address)
        assert clean.returncode == 0 and "no stuck workflow tasks" in clean.stdout


async def test_doctor_reads_a_page_from_the_end_of_a_history_however_long(
    dev_server: DevServer,
) -> None:
    """``agentflow doctor`` reads every running workflow; each costs one page, not its history.

    It once fetched every event of every running conversation to find how its last task ended.
    """
    client = await dev_server.client()
    queue = f"doctor-tail-{uuid.uuid4().hex}"
    echo = Agent(
        FunctionModel(lambda request: text_response("noted")), name=f"tail-{uuid.uuid4().hex[:8]}"
    )
    agents = AgentClient(client, task_queue=queue)
    async with create_worker(client, [echo], task_queue=queue):
        conversation = await agents.start_conversation(echo.name, user="alice")
        for turn in range(30):
            await agents.send(conversation, f"message {turn}", sender="alice")
        history = await client.get_workflow_handle(conversation).fetch_history()
        assert len(history.events) > 10 * TAIL_PAGE

        outcome = await last_task_outcome(client, conversation)
        assert outcome.failure is None and outcome.events_read <= TAIL_PAGE
        assert await stuck_workflows(client, queue) == []
