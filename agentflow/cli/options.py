"""Options several commands share, each defined once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from agentflow.datadir import DATA_DIR_ENV

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        envvar=DATA_DIR_ENV,
        help="The data folder (default .agentflow): its databases, and the running "
        "`agentflow dev` recorded there, which every command finds.",
        show_default=False,
    ),
]

QueueOption = Annotated[
    str, typer.Option(envvar="AGENTFLOW_TASK_QUEUE", help="Temporal task queue.")
]
AddressOption = Annotated[
    str | None,
    typer.Option(
        help="host:port of the Temporal frontend, over the running `agentflow dev` of the data "
        "folder, TEMPORAL_ADDRESS and the config file's profile (default 127.0.0.1:7233).",
        show_default=False,
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        help="Temporal namespace, over TEMPORAL_NAMESPACE and the profile (default 'default').",
        show_default=False,
    ),
]


def use_data_dir(path: Path | None) -> None:
    """Make ``path`` this process's data folder, for everything the command goes on to open."""
    if path is not None:
        os.environ[DATA_DIR_ENV] = str(path)
