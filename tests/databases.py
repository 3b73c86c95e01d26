"""The databases tests run against: a SQLite file, or a PostgreSQL schema of their own.

PostgreSQL is the local server on 127.0.0.1:5432 (database ``test``); each engine gets a fresh
schema on its search path, dropped afterwards. Without a server the test is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def sqlite_engine(path: Path) -> Engine:
    """A SQLite file that waits for a writer rather than failing at once (racing tests)."""
    return create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})


def postgres_engine(prefix: str) -> Iterator[Engine]:
    """An engine on a schema named ``prefix_<random>``, dropped when the generator ends."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
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


def engine_for(backend: str, sqlite_path: Path, prefix: str) -> Iterator[Engine]:
    """A fresh database of ``backend`` (``sqlite`` or ``postgresql``), disposed afterwards."""
    if backend == "postgresql":
        yield from postgres_engine(prefix)
        return
    engine = sqlite_engine(sqlite_path)
    try:
        yield engine
    finally:
        engine.dispose()
