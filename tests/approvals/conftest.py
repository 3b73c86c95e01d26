"""Fixtures for the approval tests: a Temporal dev server, databases, a seeded org chart.

Tests that use ``dev_server`` run on the session event loop, as in ``tests/temporal``::

    pytestmark = pytest.mark.asyncio(loop_scope="session")

``engine`` is parametrised over SQLite and PostgreSQL (the test machines serve PostgreSQL on
127.0.0.1:5432, trust auth, database ``test``; without it the PostgreSQL cases skip). Each
PostgreSQL case gets a schema of its own, dropped afterwards, so concurrent runs never share
tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine

from agentflow.approvals import OrgChart
from agentflow.temporal.devserver import DevServer
from tests.approvals.org import seed
from tests.databases import engine_for


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_server() -> AsyncIterator[DevServer]:
    async with DevServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from engine_for(request.param, tmp_path / "approvals.db", "agentflow_test")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    yield from engine_for("sqlite", tmp_path / "approvals.db", "agentflow_test")


@pytest.fixture
def org(engine: Engine) -> OrgChart:
    return seed(OrgChart(engine))
