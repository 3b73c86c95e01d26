"""``agentflow doctor``: which conversations and approvals are stuck, and why.

A deploy whose workflow code does not replay a running conversation leaves its workflow task
failing for ever while the worker looks healthy (see `agentflow.temporal.health`). This
lists the task queue's running conversations and approvals whose task keeps failing, with the
first line of the failure, and exits 1 when there is any: run it after every deploy, or from a
monitor.
"""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.markup import escape

from agentflow.cli.options import (
    AddressOption,
    DataDirOption,
    NamespaceOption,
    QueueOption,
    use_data_dir,
)
from agentflow.exceptions import AgentflowError
from agentflow.temporal.connection import TemporalConfig
from agentflow.temporal.health import StuckWorkflow, stuck_workflows


def doctor(
    task_queue: QueueOption = "agentflow",
    temporal_address: AddressOption = None,
    namespace: NamespaceOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the conversations and approvals whose workflow task keeps failing (exit 1 if any)."""
    use_data_dir(data_dir)
    try:
        stuck = asyncio.run(_stuck(task_queue, temporal_address, namespace))
    except AgentflowError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    out = Console()
    for workflow in stuck:
        out.print(
            f"[bold red]stuck:[/] {escape(workflow.workflow_id)} ({workflow.workflow_type}), "
            f"its task is failing (attempt {workflow.attempts}): {escape(workflow.reason)}",
            soft_wrap=True,
        )
    if stuck:
        out.print(
            f"{len(stuck)} stuck on {task_queue!r}: serve them with code that replays them "
            "(the previous build, or a fix; `agentflow replay` shows which)",
            soft_wrap=True,
        )
        raise typer.Exit(code=1)
    out.print(f"no stuck workflow tasks on {task_queue!r}")


async def _stuck(
    task_queue: str, temporal_address: str | None, namespace: str | None
) -> list[StuckWorkflow]:
    client = await TemporalConfig.load(temporal_address, namespace).connect()
    return await stuck_workflows(client, task_queue)
