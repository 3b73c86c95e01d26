"""One place to find the server: ``agentflow dev`` records where it listens, the others read it.

A user's own project: an agent module in an empty folder, ``agentflow dev`` run from it (the
folder importable), then ``chat`` and ``approvals`` in the same folder without an address,
while ``TEMPORAL_ADDRESS`` points at nothing. A second ``dev`` in the folder is refused; a wrong
agent is refused by ``chat`` in one line and creates no conversation.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentflow.temporal.connection import TemporalConfig
from agentflow.temporal.devrecord import DevRecord, read_dev_record, write_dev_record
from agentflow.temporal.devserver import DevServer, DevServerError, connect
from tests.cli.test_dev import read_until

CLI = [sys.executable, "-m", "agentflow.cli"]
DEAD = "127.0.0.1:9"

AGENT_MODULE = """
from agentflow import Agent
from agentflow.testing import FunctionModel
from agentflow.testing.models import text_response


def answer(request):
    return text_response("Hello from my agent")


agent = Agent(FunctionModel(answer), name="mine")
other = Agent(FunctionModel(answer), name="not-served")
"""


def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "myagent.py").write_text(textwrap.dedent(AGENT_MODULE))
    return folder


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "AGENTFLOW_"))}
    env.pop("DATABASE_URL", None)
    env.pop("PYTHONPATH", None)  # the project folder must be importable on its own
    return env | {"COLUMNS": "200", **extra}


def run(
    args: list[str], folder: Path, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        env=environment(**extra),
    )


async def conversations(address: str) -> list[str]:
    client = await connect(address)
    return [w.id async for w in client.list_workflows('WorkflowType = "AgentWorkflow"')]


async def test_the_commands_find_dev_in_its_data_folder(tmp_path: Path) -> None:
    folder = project(tmp_path)
    dev = subprocess.Popen(
        [*CLI, "dev", "--agent", "myagent:agent", "--no-ui"],
        cwd=folder,
        env=environment(),
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        read_until(dev, "Ctrl-C stops everything")
        record = json.loads((folder / ".agentflow" / "dev.json").read_text())
        assert record["agents"] == {"agentflow": {"mine": "myagent:agent"}}

        # TEMPORAL_ADDRESS points at nothing: the record comes first.
        chat = run(
            ["chat", "--agent", "myagent:agent", "--as", "alice"],
            folder,
            stdin="hello\n\n",
            TEMPORAL_ADDRESS=DEAD,
        )
        assert chat.returncode == 0, chat.stderr
        assert "Hello from my agent" in chat.stdout
        listed = run(["approvals", "list"], folder, TEMPORAL_ADDRESS=DEAD)
        assert listed.returncode == 0, listed.stderr
        assert "Nothing waits" in listed.stdout + listed.stderr
        started = await conversations(record["address"])
        assert len(started) == 1

        # An agent dev does not serve: one line, nothing created.
        wrong = run(["chat", "--agent", "myagent:other", "--as", "alice"], folder, stdin="hi\n")
        assert wrong.returncode == 2
        assert wrong.stderr.strip().splitlines() == [
            "error: --agent 'myagent:other': the agentflow dev running from .agentflow serves "
            "myagent:agent on task queue 'agentflow', not 'not-served'"
        ]
        for reference, problem in [
            ("mine", "expected package.module:name[@task-queue]"),
            ("myagent:nope", "myagent has no 'nope'"),
            ("nothere:agent", "no module 'nothere'"),
        ]:
            refused = run(["chat", "--agent", reference, "--as", "alice"], folder, stdin="hi\n")
            assert refused.returncode == 2
            (line,) = refused.stderr.strip().splitlines()
            assert problem in line, line
        assert await conversations(record["address"]) == started

        # A second dev in the same folder refuses, in one line, and leaves the first alone.
        second = run(["dev", "--agent", "myagent:agent", "--no-ui"], folder)
        assert second.returncode == 2
        assert "another Temporal dev server runs on .agentflow/temporal.db" in second.stderr
        assert f"Temporal at {record['address']}" in second.stderr
        assert "Traceback" not in second.stderr
        assert json.loads((folder / ".agentflow" / "dev.json").read_text()) == record
    finally:
        dev.send_signal(signal.SIGINT)
        dev.communicate(timeout=90)  # drains the pipes a chatty process would block on
    assert not (folder / ".agentflow" / "dev.json").exists()
    # Everything the run kept is in the data folder.
    kept = {p.name for p in (folder / ".agentflow").iterdir()}
    assert {"temporal.db", "agentflow.db", "audit.db"} <= kept
    assert {p.name for p in folder.iterdir()} - {"__pycache__"} == {"myagent.py", ".agentflow"}


async def test_data_dir_moves_all_state(tmp_path: Path) -> None:
    folder = project(tmp_path)
    elsewhere = tmp_path / "state"
    dev = subprocess.Popen(
        [*CLI, "dev", "--agent", "myagent:agent", "--no-ui", "--data-dir", str(elsewhere)],
        cwd=folder,
        env=environment(),
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        read_until(dev, "Ctrl-C stops everything")
        chat = run(
            ["chat", "--agent", "myagent:agent", "--as", "alice", "--data-dir", str(elsewhere)],
            folder,
            stdin="hello\n\n",
        )
        assert chat.returncode == 0, chat.stderr
        assert not (folder / ".agentflow").exists()
        # Without the folder, the commands do not find this dev.
        lost = run(["chat", "--agent", "myagent:agent", "--as", "alice"], folder, stdin="hi\n")
        assert lost.returncode == 2 and "cannot reach Temporal at 127.0.0.1:7233" in lost.stderr
    finally:
        dev.send_signal(signal.SIGINT)
        dev.communicate(timeout=90)  # drains the pipes a chatty process would block on
    assert {"temporal.db", "temporal.log", "agentflow.db", "audit.db"} <= {
        p.name for p in elsewhere.iterdir()
    }


async def test_a_second_server_on_one_database_file_refuses(tmp_path: Path) -> None:
    async with DevServer(db_file=tmp_path / "temporal.db"):
        with pytest.raises(DevServerError, match="another Temporal dev server runs on"):
            await DevServer(db_file=tmp_path / "temporal.db").start()
    # Released on stop: the next one starts.
    async with DevServer(db_file=tmp_path / "temporal.db") as again:
        assert again.running


async def test_the_record_wins_over_the_environment_only_while_its_server_runs(
    tmp_path: Path,
) -> None:
    environ = {"AGENTFLOW_DATA_DIR": str(tmp_path), "TEMPORAL_ADDRESS": DEAD}
    record = DevRecord(address="127.0.0.1:4444", namespace="dev-ns", pid=os.getpid())
    write_dev_record(tmp_path, record)
    # Nobody holds the lock (a dev killed with SIGKILL leaves its record): ignored.
    assert read_dev_record(tmp_path) is None
    assert TemporalConfig.load(environ=environ).address == DEAD
    async with DevServer(db_file=tmp_path / "temporal.db") as server:
        write_dev_record(tmp_path, record.model_copy(update={"address": server.address}))
        config = TemporalConfig.load(environ=environ)
        assert (config.address, config.namespace) == (server.address, "dev-ns")
        assert TemporalConfig.load(namespace="other", environ=environ).namespace == "other"
        assert TemporalConfig.load("10.0.0.1:7233", environ=environ).address == "10.0.0.1:7233"
        assert TemporalConfig.load(environ=environ, dev_record=False).address == DEAD
    assert TemporalConfig.load(environ=environ).address == DEAD


def test_a_record_that_cannot_be_read_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "dev.json").write_text("{not json")
    assert read_dev_record(tmp_path) is None
