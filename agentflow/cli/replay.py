"""``agentflow replay``: will the code in hand replay the conversations that are running?

Approvals wait for days and teams deploy daily, so new code meets histories recorded by old
code. Temporal replays each history against the workflow code to rebuild its state; a change to
the order or number of commands (an activity added to a turn, a tool renamed, a timer moved)
fails that replay and leaves the workflow stuck. This command replays, before the deploy, the
open and recent histories of the agents' conversations and approvals (fetched from the server,
or read from exported files) with the agents registered as the new worker would register them,
and exits non-zero naming each workflow that would not replay and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from agentflow.extras import require

if TYPE_CHECKING:
    from temporalio.client import WorkflowHistory

ReplayAgentOption = Annotated[
    list[str],
    typer.Option(
        "--agent",
        "-a",
        help="An agent the new worker serves, as package.module:name[@task-queue] (repeat for "
        "several).",
    ),
]


def replay(
    agent: ReplayAgentOption,
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Exported histories (JSON) to replay instead of the server's."),
    ] = None,
    task_queue: QueueOption = "agentflow",
    temporal_address: AddressOption = None,
    namespace: NamespaceOption = None,
    limit: Annotated[int, typer.Option(help="At most this many workflows from the server.")] = 500,
    export: Annotated[
        Path | None,
        typer.Option(help="Also save every replayed history here, as test fixtures."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Replay running and recent conversations and approvals against the code in hand."""
    console = Console(stderr=True)
    use_data_dir(data_dir)
    try:
        require("temporal", "agentflow replay")
        failures = asyncio.run(
            _replay(agent, files or [], task_queue, temporal_address, namespace, limit, export)
        )
    except AgentflowError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    if failures:
        raise typer.Exit(code=1)


async def _replay(
    references: Sequence[str],
    files: Sequence[Path],
    task_queue: str,
    temporal_address: str | None,
    namespace: str | None,
    limit: int,
    export: Path | None,
) -> int:
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from agentflow.cli.loading import load_agent
    from agentflow.temporal.converter import data_converter
    from agentflow.temporal.registry import register_agent
    from agentflow.temporal.worker import workflow_classes, workflow_runner

    out = Console()
    for reference in references:
        loaded, deps = load_agent(reference)
        register_agent(loaded, deps=deps)
    histories: list[WorkflowHistory] = []
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            raise AgentflowError(f"cannot read {path}: {exc.strerror}") from None
        histories.append(WorkflowHistory.from_json(workflow_id_of(path), text))
    if not files:
        histories = await _fetch(task_queue, temporal_address, namespace, limit)
    if export is not None:
        export.mkdir(parents=True, exist_ok=True)
        for name, history in fixture_names(histories):
            (export / name).write_text(history.to_json())
    # The checking sandbox: slower than a worker's, and it checks the workflows' own code too.
    replayer = Replayer(
        workflows=workflow_classes(),
        workflow_runner=workflow_runner(checked=True),
        data_converter=data_converter,
    )
    failures = 0
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures += 1
            first_line = str(result.replay_failure).strip().splitlines()[0]
            out.print(
                f"[bold red]will not replay:[/] {escape(history.workflow_id)}: "
                f"{escape(first_line)}",
                soft_wrap=True,
            )
    verdict = "[green]all replay[/]" if not failures else f"[red]{failures} will not replay[/]"
    out.print(f"{len(histories)} histories replayed: {verdict}")
    return failures


def fixture_names(histories: Sequence[WorkflowHistory]) -> list[tuple[str, WorkflowHistory]]:
    """A file name for each history: ``<workflow id, / as __>.json``, ``@2``… for more runs.

    The workflow id is part of what replays (child workflow ids derive from it), so the name
    keeps it; a conversation that continued as new has several runs under one id.
    """
    seen: dict[str, int] = {}
    named: list[tuple[str, WorkflowHistory]] = []
    for history in histories:
        stem = history.workflow_id.replace("/", "__")
        seen[stem] = seen.get(stem, 0) + 1
        suffix = "" if seen[stem] == 1 else f"@{seen[stem]}"
        named.append((f"{stem}{suffix}.json", history))
    return named


def workflow_id_of(path: Path) -> str:
    """The workflow id of a history saved under a name from `fixture_names`."""
    return path.stem.split("@")[0].replace("__", "/")


async def _fetch(
    task_queue: str, temporal_address: str | None, namespace: str | None, limit: int
) -> list[WorkflowHistory]:
    from agentflow.temporal.connection import TemporalConfig

    client = await TemporalConfig.load(temporal_address, namespace).connect()
    query = f'WorkflowType IN ("AgentWorkflow", "ApprovalWorkflow") AND TaskQueue = "{task_queue}"'
    histories: list[WorkflowHistory] = []
    async for execution in client.list_workflows(query, limit=limit):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        histories.append(await handle.fetch_history())
    return histories
