"""Fixtures for the approval tests: a Temporal dev server, databases, a seeded org chart.

Tests that use ``dev_server`` run on the session event loop, as in ``tests/temporal``::

    pytestmark = pytest.mark.asyncio(loop_scope="session")

``engine`` is parametrised over SQLite and PostgreSQL (the test machines serve PostgreSQL on
127.0.0.1:5432, trust auth, database ``test``; without it the PostgreSQL cases skip). Each
PostgreSQL case gets a schema of its own, dropped afterwards, so concurrent runs never share
tables.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from agentflow.approvals import OrgChart
from agentflow.temporal.devserver import DevServer
from tests.approvals.org import seed

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_server() -> AsyncIterator[DevServer]:
    async with DevServer() as server:
        yield server


def _postgres_engine() -> Iterator[Engine]:
    schema = f"agentflow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, connect_args={"connect_timeout": 2})
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at 127.0.0.1:5432 ({exc.orig})")
    engine = create_engine(POSTGRES, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        yield from _postgres_engine()
        return
    engine = create_engine(f"sqlite:///{tmp_path / 'approvals.db'}", connect_args={"timeout": 30})
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'approvals.db'}", connect_args={"timeout": 30})
    yield engine
    engine.dispose()


@pytest.fixture
def org(engine: Engine) -> OrgChart:
    return seed(OrgChart(engine))
