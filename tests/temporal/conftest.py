"""Shared Temporal servers for the tests under ``tests/temporal``.

Starting a server costs a fraction of a second, but doing it per test adds up, so both servers
are started once per session on pytest-asyncio's *session* event loop. pyproject sets
``asyncio_default_fixture_loop_scope = "function"``, so a test module that uses these fixtures
must run its tests on the session loop too, or the clients are used from a loop they were not
made on::

    pytestmark = pytest.mark.asyncio(loop_scope="session")

(The mark applies to every test in the module; make the rest ``async`` as well, since a sync
test carrying it draws a warning.) Module fixtures built on these need
``@pytest_asyncio.fixture(loop_scope="session")``.

Fixtures:

``dev_server``
    A real ``temporal server start-dev`` (in memory, headless, free port), shared by the session.
    Connect with ``await dev_server.client()`` (pydantic data converter included) and run
    workers on a task queue unique to the test.

``time_skipping_env``
    ``WorkflowEnvironment.start_time_skipping`` on the ``temporal-test-server`` binary from the
    venv (never downloaded), with the pydantic data converter; use its ``client``. The server is
    shared by the session, but the fixture itself is per test: after each test it terminates the
    workflows that test started and left running. That matters because the test server only
    skips time while no workflow has work pending, and a workflow whose worker is gone (a timer
    fired, nobody to run the task) would otherwise freeze the clock for every later test. Start
    the worker before the workflow: a workflow task that no worker ever picked up keeps the
    clock frozen even after its workflow is terminated (a quirk of the test server).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from temporalio.client import Interceptor, OutboundInterceptor, StartWorkflowInput, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from agentflow.temporal.devserver import DevServer, test_server_path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_server() -> AsyncIterator[DevServer]:
    async with DevServer() as server:
        yield server


class _RecordStarts(Interceptor):
    """Remembers every workflow the client starts, so leftovers can be terminated."""

    def __init__(self) -> None:
        self.started: list[WorkflowHandle[Any, Any]] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _RecordingOutbound(next, self.started)


class _RecordingOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, started: list[WorkflowHandle[Any, Any]]) -> None:
        super().__init__(next)
        self._started = started

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        handle = await super().start_workflow(input)
        self._started.append(handle)
        return handle


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _time_skipping_server() -> AsyncIterator[tuple[WorkflowEnvironment, _RecordStarts]]:
    starts = _RecordStarts()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path()),
        data_converter=pydantic_data_converter,
        interceptors=[starts],
    )
    try:
        yield env, starts
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def time_skipping_env(
    _time_skipping_server: tuple[WorkflowEnvironment, _RecordStarts],
) -> AsyncIterator[WorkflowEnvironment]:
    env, starts = _time_skipping_server
    first = len(starts.started)
    yield env
    # Torn down after the test's own fixtures, so its workers have stopped by now.
    for handle in starts.started[first:]:
        with contextlib.suppress(RPCError):  # already finished: nothing to do
            await handle.terminate(reason="left running by a test")
    del starts.started[first:]
