"""``agentflow init [FOLDER]``: a project of one's own, runnable at once.

It writes an agent module (a typed tool whose precondition asks an approver above a limit), a
test of it on the test model, and a README with the commands to run it durably and decide in the
inbox. Nothing is overwritten: a folder that already holds one of the files is refused whole.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

SCAFFOLD = ("agent.py", "test_agent.py", "README.md")


def init(
    folder: Annotated[
        Path, typer.Argument(help="Where to write the project (created if missing).")
    ] = Path("."),
) -> None:
    """Write a runnable agent project: agent.py, test_agent.py, README.md."""
    err = Console(stderr=True)
    taken = [name for name in SCAFFOLD if (folder / name).exists()]
    if taken:
        err.print(
            f"[bold red]error:[/] {escape(str(folder))} already has {', '.join(taken)}: "
            "nothing written (choose an empty folder)",
            soft_wrap=True,
        )
        raise typer.Exit(code=2)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err.print(f"[bold red]error:[/] cannot create {escape(str(folder))}: {exc.strerror}")
        raise typer.Exit(code=2) from None
    source = files("agentflow.cli") / "scaffold"
    for name in SCAFFOLD:
        (folder / name).write_text((source / f"{name}.txt").read_text())
    out = Console()
    out.print(f"wrote {', '.join(SCAFFOLD)} in {escape(str(folder))}; next:", soft_wrap=True)
    here = "" if folder == Path(".") else f"cd {folder} && "
    out.print(f"  {here}pytest                                   # offline", soft_wrap=True)
    out.print("  agentflow dev --agent agent:agent          # then see README.md", soft_wrap=True)
