"""Where ``agentflow dev`` listens, written in its data folder for every other command to find.

``agentflow dev`` starts Temporal on a free port. While it runs it keeps ``dev.json`` in its data
folder (see `agentflow.datadir`): the address, the namespace, and the agents it serves on
each task queue. ``chat``, ``approvals``, ``worker``, ``replay`` and ``audit`` read it (through
[`load`][agentflow.temporal.TemporalConfig.load]) before ``TEMPORAL_*``, the config
file's profile and ``127.0.0.1:7233``, so they reach the server without being told its port.

A record counts only while the server it describes holds its lock
(`server_lock`, taken by [`DevServer`][agentflow.temporal.DevServer] for its
database file): a record left behind by a process that was killed is ignored, never followed.
The same lock makes a second server on the same database file refuse to start.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = [
    "RECORD_NAME",
    "SERVER_DB_NAME",
    "DevRecord",
    "forget_dev_record",
    "read_dev_record",
    "server_lock",
    "write_dev_record",
]

RECORD_NAME = "dev.json"
SERVER_DB_NAME = "temporal.db"
"""The embedded server's database file in a data folder."""


class DevRecord(BaseModel):
    """What a running ``agentflow dev`` tells the other commands."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    address: str
    namespace: str
    pid: int
    ui_address: str | None = None
    agents: dict[str, dict[str, str]] = {}
    """task queue -> agent name -> the reference it was loaded from (``module:attribute``)."""

    def serves(self, task_queue: str) -> dict[str, str]:
        """The agents served on ``task_queue`` (name -> reference)."""
        return self.agents.get(task_queue, {})


def server_lock(db_file: Path) -> FileLock:
    """The lock that one process holds while a server runs on ``db_file``."""
    # Imported here: filelock subclasses threading.local, which Temporal's workflow sandbox
    # cannot re-import, and test modules that define workflows import the dev server.
    from filelock import FileLock

    return FileLock(db_file.with_name(db_file.name + ".lock"))


def _held(db_file: Path) -> bool:
    from filelock import Timeout

    lock = server_lock(db_file)
    if not Path(lock.lock_file).exists():  # never held: do not create it by asking
        return False
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:  # a folder we cannot write to: nobody can be running a server from it
        return False
    lock.release()
    return False


def read_dev_record(data_dir: Path) -> DevRecord | None:
    """The record of the ``agentflow dev`` running from ``data_dir``, or ``None``.

    ``None`` as well for a record nobody stands behind (its server's lock is free) or one that
    cannot be read: then the commands fall back to ``TEMPORAL_*`` as if there were none.
    """
    path = data_dir / RECORD_NAME
    try:
        record = DevRecord.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None
    return record if _held(data_dir / SERVER_DB_NAME) else None


def write_dev_record(data_dir: Path, record: DevRecord) -> None:
    """Write ``record`` whole (a reader never sees half of it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=".dev-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(record.model_dump_json(indent=2))
        os.replace(temporary, data_dir / RECORD_NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def forget_dev_record(data_dir: Path, pid: int) -> None:
    """Remove the record if process ``pid`` wrote it (never another process's)."""
    path = data_dir / RECORD_NAME
    with contextlib.suppress(OSError, ValidationError):
        if DevRecord.model_validate_json(path.read_bytes()).pid == pid:
            path.unlink()
