"""The commands docs/tutorial.md shows for approving and tracing, run as a reader would."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentflow.audit import configure_tracing
from agentflow.temporal import AgentClient, DevServer, create_worker

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text()


@dataclass
class Ran:
    code: int
    out: str


async def agentflow(*args: str, env: dict[str, str]) -> Ran:
    """Run the CLI without blocking the event loop that the worker runs on."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agentflow.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode())


def test_the_tutorial_shows_these_commands() -> None:
    for command in (
        "agentflow dev --agent examples.travel.agent:travel_agent",
        "agentflow chat --agent examples.travel.agent:travel_agent --as alice",
        "agentflow approvals list --as bob",
        "agentflow approvals approve",
        "agentflow trace",
    ):
        assert command in TUTORIAL, command


async def test_bob_approves_from_the_cli_and_the_trace_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'agentflow.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    from examples.travel.agent import travel_agent  # reads DATABASE_URL

    agent, deps = travel_agent()
    tracing = configure_tracing(database_url=url, batch=False)
    queue = "tutorial-cli"
    async with DevServer() as server:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TEMPORAL_ADDRESS": server.address,
            "AGENTFLOW_TASK_QUEUE": queue,
            "COLUMNS": "250",
        }
        client = await server.client()
        worker = create_worker(
            client, [agent], task_queue=queue, deps={agent.name: deps}, tracer_provider=tracing
        )
        async with worker:
            agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
            conversation = await agents.start_conversation(agent.name, user="alice")
            await agents.send(
                conversation, "Business class flight from ZRH to LHR on 2026-12-16", sender="alice"
            )
            reply = await agents.send(conversation, "Book option 2", sender="alice")
            assert reply.status == "awaiting_approval", reply.output
            (request,) = reply.approvals
            approval_id = f"{conversation}/approval/{request.tool_call_id}"

            listed = await agentflow("approvals", "list", "--as", "bob", env=env)
            assert listed.code == 0, listed.out
            assert approval_id in listed.out
            assert "business class needs a flight of 6 h or more" in listed.out
            nothing = await agentflow("approvals", "list", "--as", "carol", env=env)
            assert "Nothing waits for a decision by carol." in nothing.out

            # Hostile: the requester approves herself; bob confirms another call's digest.
            selfish = await agentflow("approvals", "approve", approval_id, "--as", "alice", env=env)
            wrong = await agentflow(
                "approvals", "approve", approval_id, "--as", "bob", "--digest", "0" * 12, env=env
            )
            assert selfish.code != 0 and wrong.code != 0, (selfish.out, wrong.out)
            assert (await agents.approval_status(approval_id)).state == "pending"

            approved = await agentflow(
                "approvals", "approve", approval_id, "--as", "bob",
                "--digest", request.digest[:12], env=env,
            )  # fmt: skip
            assert approved.code == 0, approved.out
            final = await agents.wait_for_turn(conversation, reply.turn)
            assert final.status == "completed"
            assert "approved by bob" in final.output
    tracing.shutdown()

    trace = await agentflow("trace", conversation, env=env)
    assert trace.code == 0, trace.out
    for shown in ("book_flight", "approval", "bob", "needs_approval"):
        assert shown in trace.out, trace.out
    verified = await agentflow("audit", "verify", "--database-url", url, env=env)
    assert verified.code == 0 and "intact" in verified.out, verified.out
