"""``agentflow replay`` replays what runs against the code in hand, before a deploy."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from agentflow import Agent
from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response
from tests.temporal.support import engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

NAME = "replay-cli-booker"
ROOT = Path(__file__).resolve().parents[2]


def same_agent() -> Agent[Any, Any]:
    """The agent as the new code defines it, unchanged."""
    return make_agent(NAME)


def changed_agent() -> Agent[Any, Any]:
    """A breaking change: the tool the recorded conversations called is gone."""
    return Agent(FunctionModel(lambda request: text_response("hi")), name=NAME)


def replay(*args: str, address: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "agentflow.cli", "replay", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_replay_passes_unchanged_code_and_names_what_a_change_would_break(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    queue = f"replay-{uuid.uuid4().hex}"
    engine = engine_for(tmp_path / "bookings.db")
    agent = make_agent(NAME)
    async with create_worker(client, [agent], task_queue=queue, deps={NAME: lambda: engine}):
        agents = AgentClient(client, task_queue=queue)
        decided = await agents.start_conversation(NAME, user="alice")
        (request,) = (await agents.send(decided, "book LX14 2400", sender="alice")).approvals
        approval_id = f"{decided}/approval/{request.tool_call_id}"
        await agents.decide(
            approval_id, ApprovalVote(digest=request.digest, approver="bob", approve=True)
        )
        assert (await agents.wait_for_turn(decided, 1)).status == "completed"
        waiting = await agents.start_conversation(NAME, user="alice")
        await agents.send(waiting, "book LX14 3000", sender="alice")  # left pending

    exported = tmp_path / "histories"
    ok = await asyncio.to_thread(
        replay,
        "--agent", "tests.temporal.test_replay_cli:same_agent",
        "--task-queue", queue,
        "--export", str(exported),
        address=dev_server.address,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "4 histories replayed: all replay" in ok.stdout
    files = sorted(exported.glob("*.json"))
    assert len(files) == 4

    broken = await asyncio.to_thread(
        replay,
        "--agent", "tests.temporal.test_replay_cli:changed_agent",
        *map(str, files),
        address=dev_server.address,
    )  # fmt: skip
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"will not replay: {decided}" in broken.stdout
    assert f"will not replay: {waiting}" in broken.stdout
    assert "Traceback" not in broken.stdout + broken.stderr

    missing = await asyncio.to_thread(
        replay, "--agent", "tests.temporal.test_replay_cli:same_agent", str(tmp_path / "nope.json"),
        address=dev_server.address,
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read" in missing.stderr
