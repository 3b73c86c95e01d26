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


def use_data_dir(path: Path | None) -> None:
    """Make ``path`` this process's data folder, for everything the command goes on to open."""
    if path is not None:
        os.environ[DATA_DIR_ENV] = str(path)
