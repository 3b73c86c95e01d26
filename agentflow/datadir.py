"""The data folder: one place for everything agentflow keeps on disk by default.

A project's local state lives in ``.agentflow`` under the current directory, or in the folder
``AGENTFLOW_DATA_DIR`` names (every command's ``--data-dir`` sets it)::

    agentflow.db     the application's tables (org chart, approval ledger), unless DATABASE_URL
    audit.db         the audit trail, unless DATABASE_URL
    temporal.db      the embedded Temporal server's state (``agentflow dev``)
    temporal.log     its log
    temporal.db.lock held by the process running that server: one server per database file
    dev.json         where ``agentflow dev`` listens and what it serves, while it runs

Moving the folder moves all of it, so two projects (or two checkouts) never share a database by
accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_DATA_DIR",
    "application_database_url",
    "audit_database_default",
    "data_dir",
]

DATA_DIR_ENV = "AGENTFLOW_DATA_DIR"
DEFAULT_DATA_DIR = Path(".agentflow")


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``AGENTFLOW_DATA_DIR`` (an empty value counts as unset), else ``.agentflow``."""
    configured = (os.environ if environ is None else environ).get(DATA_DIR_ENV) or None
    return Path(configured) if configured is not None else DEFAULT_DATA_DIR


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.as_posix()}"


def application_database_url(environ: Mapping[str, str] | None = None) -> str:
    """The application's SQLite file in the data folder (used when ``DATABASE_URL`` is unset)."""
    return _sqlite_url(data_dir(environ) / "agentflow.db")


def audit_database_default(environ: Mapping[str, str] | None = None) -> str:
    """The audit trail's own SQLite file in the data folder."""
    return _sqlite_url(data_dir(environ) / "audit.db")
