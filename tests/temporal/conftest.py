"""Shared Temporal servers for the tests under ``tests/temporal``.

Starting a server costs a fraction of a second but doing it per test adds up, so both fixtures are
session scoped and live on pytest-asyncio's *session* event loop. pyproject sets
``asyncio_default_fixture_loop_scope = "function"``, so a test module that uses them must run its
tests on the session loop too, or the fixture's client is used from a loop it was not made on::

    pytestmark = pytest.mark.asyncio(loop_scope="session")

Fixtures:

``dev_server``
    A real ``temporal server start-dev`` (in memory, headless, free port). Connect with
    ``await dev_server.client()`` (pydantic data converter included) and run a ``Worker`` on a
    task queue unique to the test, since the server is shared by the whole session.

``time_skipping_env``
    ``WorkflowEnvironment.start_time_skipping`` on the ``temporal-test-server`` binary from the
    venv (never downloaded), with the pydantic data converter. Timers fire as soon as no workflow
    has work to do; use ``time_skipping_env.client``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from agentflow.temporal.devserver import DevServer, test_server_path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_server() -> AsyncIterator[DevServer]:
    async with DevServer() as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path()),
        data_converter=pydantic_data_converter,
    )
    try:
        yield env
    finally:
        await env.shutdown()
