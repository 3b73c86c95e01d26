"""Fixtures for the audit trail: a store on SQLite or PostgreSQL, a tracer provider around it.

``dev_server`` is the session's Temporal server from ``tests/temporal/conftest.py``; importing
it here makes it available to these tests without moving it (pytest registers a fixture
wherever its function is in a conftest's namespace).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from psycopg import sql

from agentflow.audit import AuditTracerProvider, configure_tracing
from tests.temporal.conftest import dev_server  # noqa: F401 (re-exported fixture)

POSTGRES_USERS = ("postgres", "root")


def postgres_user() -> str | None:
    for user in POSTGRES_USERS:
        with contextlib.suppress(psycopg.Error):
            psycopg.connect(
                host="127.0.0.1", port=5432, user=user, dbname="test", connect_timeout=2
            ).close()
            return user
    return None


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL to database ``test`` whose search path is a fresh schema, dropped afterwards."""
    user = postgres_user()
    if user is None:
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432 (database test)")
    schema = f"audit_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host="127.0.0.1", user=user, dbname="test", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield f"postgresql://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(host="127.0.0.1", user=user, dbname="test", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('audit')}/audit.db"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def exported() -> InMemorySpanExporter:
    """Every span the provider exports, as the OTLP exporter or any other would get it."""
    return InMemorySpanExporter()


@pytest.fixture
def tracing(database_url: str, exported: InMemorySpanExporter) -> Iterator[AuditTracerProvider]:
    provider = configure_tracing(database_url=database_url, exporters=[exported], otlp=False)
    yield provider
    provider.shutdown()
