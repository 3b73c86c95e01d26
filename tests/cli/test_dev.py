"""``agentflow dev`` and ``agentflow worker`` as a user runs them: real processes, Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agentflow.temporal import AgentClient, DevServer, connect, create_worker
from tests.processes import read_until, stop

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "agentflow.cli"]


def start(args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    env = dict(
        os.environ,
        AGENTFLOW_TEST_DB=str(tmp_path / "bookings.db"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'audit.db'}",
        COLUMNS="200",
    )
    return subprocess.Popen(
        [*CLI, *args], cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def port_open(address: str) -> bool:
    host, port = address.split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


async def test_dev_serves_conversations_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    process = start(
        [
            "dev",
            "--agent",
            "tests.temporal.support:cli_agent",
            "--data-dir",
            str(tmp_path / "af"),
            "--no-ui",
        ],
        tmp_path,
    )
    try:
        output = read_until(process, "Ctrl-C stops everything")
        match = re.search(r"Temporal: (\S+)", output)
        assert match, output
        address = match.group(1)
        agents = AgentClient(await connect(address))
        conversation = await agents.start_conversation("cli-booker", user="alice")
        reply = await agents.send(conversation, "book LX14 700", sender="alice")
        assert reply.status == "completed"
        assert (tmp_path / "af" / "temporal.db").exists()

        stderr = stop(process)
        assert process.returncode == 0, stderr
        assert not port_open(address), "the embedded server outlived agentflow dev"

        # The worker that `agentflow dev` ran recorded the conversation in the audit trail.
        trace = subprocess.run(
            [*CLI, "trace", conversation, "--database-url", f"sqlite:///{tmp_path / 'audit.db'}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, COLUMNS="200"),
        )
        assert trace.returncode == 0, trace.stderr
        assert "tool book_flight" in trace.stdout and "returned" in trace.stdout
    finally:
        stop(process)


def test_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *CLI,
            "worker",
            "--agent",
            "tests.temporal.support:cli_agent",
            "--temporal-address",
            "127.0.0.1:1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, AGENTFLOW_TEST_DB=str(tmp_path / "b.db"), COLUMNS="200"),
    )
    assert result.returncode == 2
    assert "cannot reach Temporal at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nope.module:agent", "no module 'nope.module'"),
        ("tests.temporal.support:missing", "has no 'missing'"),
        ("tests.temporal.support:make_agent", "must take no arguments"),
        ("tests.temporal.support:APPROVAL_ABOVE", "is not an agentflow Agent"),
    ],
)
def test_bad_agent_references_are_explained(reference: str, message: str) -> None:
    result = subprocess.run(
        [*CLI, "worker", "--agent", reference],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, COLUMNS="200"),
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


async def test_one_worker_process_serves_several_task_queues(tmp_path: Path) -> None:
    async with DevServer() as server:
        process = start(
            [
                "worker",
                "--temporal-address",
                server.address,
                "--agent",
                "tests.temporal.support:cli_agent@queue-one",
                "--agent",
                "tests.temporal.support:cli_agent_other@queue-two",
            ],
            tmp_path,
        )
        try:
            read_until(process, "queue-two")
            client = await server.client()
            for agent, queue in (("cli-booker", "queue-one"), ("cli-booker-2", "queue-two")):
                agents = AgentClient(client, task_queue=queue)
                conversation = await agents.start_conversation(agent, user="alice")
                assert (
                    await agents.send(conversation, "hello", sender="alice")
                ).output == "You said: hello"
        finally:
            stderr = stop(process)
        assert process.returncode == 0, stderr
        assert "worker stopped" in stderr and "Traceback" not in stderr, stderr


async def test_worker_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """A service manager stops a worker with SIGTERM: the same clean stop as Ctrl-C."""
    async with DevServer() as server:
        process = start(
            [
                "worker",
                "--temporal-address",
                server.address,
                "--agent",
                "tests.temporal.support:cli_agent",
            ],
            tmp_path,
        )
        try:
            read_until(process, "task queue 'agentflow'")
            agents = AgentClient(await server.client())
            conversation = await agents.start_conversation("cli-booker", user="alice")
            assert (await agents.send(conversation, "hi", sender="alice")).output == "You said: hi"
            stderr = stop(process, signal.SIGTERM)
        finally:
            stop(process)
    assert process.returncode == 0, stderr
    assert "worker stopped" in stderr and "Traceback" not in stderr, stderr


def test_dev_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM stops the worker and the embedded server and frees the data folder."""
    from agentflow.temporal.devrecord import RECORD_NAME, SERVER_DB_NAME, server_lock

    folder = tmp_path / "af"
    process = start(
        [
            "dev",
            "--agent",
            "tests.temporal.support:cli_agent",
            "--data-dir",
            str(folder),
            "--no-ui",
        ],
        tmp_path,
    )
    try:
        output = read_until(process, "Ctrl-C stops everything")
        match = re.search(r"Temporal: (\S+)", output)
        assert match, output
        assert (folder / RECORD_NAME).exists()
        stderr = stop(process, signal.SIGTERM)
    finally:
        stop(process)
    assert process.returncode == 0, stderr
    assert "stopped" in stderr and "Traceback" not in stderr, stderr
    assert not port_open(match.group(1)), "the embedded server outlived agentflow dev"
    assert not (folder / RECORD_NAME).exists(), "dev.json outlived agentflow dev"
    lock = server_lock(folder / SERVER_DB_NAME)
    lock.acquire(timeout=0)  # free: another `agentflow dev` may start in the folder
    lock.release()


async def test_chat_shows_steps_and_replies(tmp_path: Path) -> None:
    from tests.temporal.support import CHAT_AGENT as agent
    from tests.temporal.support import engine_for

    engine = engine_for(tmp_path / "b.db")
    async with DevServer() as server:
        client = await server.client()
        worker = create_worker(
            client, [agent], task_queue="chat-q", deps={agent.name: lambda: engine}
        )
        async with worker:
            process = await asyncio.create_subprocess_exec(
                *CLI,
                "chat",
                "--agent",
                "tests.temporal.support:CHAT_AGENT",
                "--as",
                "alice",
                "--temporal-address",
                server.address,
                "--task-queue",
                "chat-q",
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(os.environ, COLUMNS="200"),
            )
            out, _ = await asyncio.wait_for(
                process.communicate(b"hello\nbook LX14 800\n\n"), timeout=60
            )
    text = out.decode()
    assert process.returncode == 0, text
    assert "You said: hello" in text
    assert "· tool_call: book_flight: returned" in text
    assert "Booked: " in text


def test_a_wrong_model_is_refused_before_the_worker_connects() -> None:
    result = subprocess.run(
        [
            *CLI, "worker", "--agent", "tests.temporal.support:cli_agent",
            "--model", "nope:gpt-9", "--temporal-address", "127.0.0.1:1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, COLUMNS="200"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown provider 'nope'" in result.stderr
    assert "cannot reach Temporal" not in result.stderr and "Traceback" not in result.stderr


def test_the_model_option_replaces_every_served_agents_model() -> None:
    from agentflow.cli.stack import _by_queue  # pyright: ignore[reportPrivateUsage]
    from agentflow.testing import TestModel

    queues = _by_queue(["tests.temporal.support:cli_agent@other"], "agentflow", "test")
    ((_, agent, _),) = queues["other"]
    assert isinstance(agent.model, TestModel)
    ((_, own, _),) = _by_queue(["tests.temporal.support:cli_agent"], "agentflow")["agentflow"]
    assert not isinstance(own.model, TestModel)
