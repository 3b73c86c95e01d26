"""Worker Versioning on the real dev server: a deploy moves conversations, never approvals.

Build 1 serves a conversation and its pending approval, both pinned to it. Build 2 becomes the
deployment's current version. The conversation's next turn still runs on build 1 (pinned), then,
between turns with nothing waiting, it continues as new onto build 2; the approval stays on
build 1, where it is decided and its call runs. Nothing is stuck or misrouted.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion

from agentflow import ConfigurationError
from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker
from agentflow.temporal.devserver import temporal_cli_path
from agentflow.temporal.worker import make_current as make_current_from_code
from agentflow.temporal.worker import routed, worker_version
from tests.temporal.support import bookings, engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def make_current(server: DevServer, version: WorkerDeploymentVersion) -> None:
    """What an operator runs to roll a build out (the deployment guide shows it)."""
    command = [
        str(temporal_cli_path()), "worker", "deployment", "set-current-version",
        "--address", server.address,
        "--deployment-name", version.deployment_name,
        "--build-id", version.build_id,
        "--yes",
    ]  # fmt: skip
    said = ""
    for _ in range(100):  # the version exists once its worker has polled
        done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
        if done.returncode == 0:
            await routed(await server.client(), version.deployment_name)
            return
        said = done.stdout + done.stderr
        await asyncio.sleep(0.2)
    raise AssertionError(said)


async def build_of(client: Client, workflow_id: str) -> str:
    description = await client.get_workflow_handle(workflow_id).describe()
    info = description.raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id


async def test_conversations_move_to_the_new_build_between_turns_and_approvals_stay(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    queue = f"versioned-{uuid.uuid4().hex}"
    deployment = f"agents-{uuid.uuid4().hex[:8]}"
    first = WorkerDeploymentVersion(deployment_name=deployment, build_id="build-1")
    second = WorkerDeploymentVersion(deployment_name=deployment, build_id="build-2")
    agent = make_agent(f"versioned-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    deps = {agent.name: lambda: engine}
    agents = AgentClient(client, task_queue=queue)

    async with create_worker(client, [agent], task_queue=queue, deps=deps, deployment=first):
        await make_current(dev_server, first)
        waiting = await agents.start_conversation(agent.name, user="alice")
        (request,) = (await agents.send(waiting, "book LX14 2400", sender="alice")).approvals
        chatting = await agents.start_conversation(agent.name, user="alice")
        await agents.send(chatting, "hello", sender="alice")
        approval_id = f"{waiting}/approval/{request.tool_call_id}"
        assert await build_of(client, chatting) == "build-1"
        assert await build_of(client, approval_id) == "build-1"

        async with create_worker(client, [], task_queue=queue, deployment=second):
            await make_current(dev_server, second)
            # The next turn runs on build 1 (pinned), then the conversation moves on.
            reply = await agents.send(chatting, "still there?", sender="alice")
            assert reply.output == "You said: still there?"
            description = await client.get_workflow_handle(chatting).describe()
            first_run = description.raw_description.workflow_execution_info.first_run_id
            assert description.run_id != first_run, "the conversation did not continue as new"
            third = await agents.send(chatting, "and now?", sender="alice")
            assert (third.turn, third.output) == (3, "You said: and now?")
            assert await build_of(client, chatting) == "build-2"  # its new run's first task ran

            # The approval stays on build 1, and its conversation waits there with it.
            assert await build_of(client, approval_id) == "build-1"
            vote = ApprovalVote(digest=request.digest, approver="bob", approve=True)
            await agents.decide(approval_id, vote)
            final = await agents.wait_for_turn(waiting, 1)
            assert final.status == "completed" and final.output.startswith("Booked: ")
            assert [(b.flight_id, b.price) for b in bookings(engine)] == [("LX14", 2400.0)]


async def test_a_version_needs_both_its_deployment_and_its_build() -> None:
    assert worker_version(None, None) is None
    assert worker_version("agents", "abc123") == WorkerDeploymentVersion(
        deployment_name="agents", build_id="abc123"
    )
    for half in (("agents", None), (None, "abc123"), ("agents", "")):
        with pytest.raises(ConfigurationError, match="both a deployment name and a build id"):
            worker_version(*half)


async def test_dev_makes_its_build_current_so_new_conversations_start(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """What ``agentflow dev --deployment-name ... --build-id ...`` does after its worker starts."""
    client = await dev_server.client()
    queue = f"versioned-{uuid.uuid4().hex}"
    version = WorkerDeploymentVersion(deployment_name=f"dev-{uuid.uuid4().hex[:8]}", build_id="b1")
    agent = make_agent(f"versioned-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    async with create_worker(
        client, [agent], task_queue=queue, deps={agent.name: lambda: engine}, deployment=version
    ):
        await make_current_from_code(client, version)
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, "hello", sender="alice")
        assert reply.output == "You said: hello"
        assert await build_of(client, conversation) == "b1"
