"""What ``agentflow worker`` and ``agentflow dev`` start, and how they stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from agentflow.agent import Agent
from agentflow.cli.loading import load_agent
from agentflow.exceptions import ConfigurationError
from agentflow.temporal.devserver import DevServer, connect
from agentflow.temporal.registry import DepsFactory
from agentflow.temporal.worker import create_worker


def _agents(references: list[str]) -> tuple[list[Agent[Any]], dict[str, DepsFactory]]:
    if not references:
        raise ConfigurationError("no agent to serve: pass --agent package.module:name")
    agents: list[Agent[Any]] = []
    deps: dict[str, DepsFactory] = {}
    for reference in references:
        agent, factory = load_agent(reference)
        agents.append(agent)
        if factory is not None:
            deps[agent.name] = factory
    return agents, deps


async def run_worker(
    references: list[str], address: str, namespace: str, task_queue: str, console: Console
) -> None:
    agents, deps = _agents(references)
    client = await connect(address, namespace)
    worker = create_worker(client, agents, task_queue=task_queue, deps=deps)
    names = ", ".join(a.name for a in agents)
    console.print(f"worker for [bold]{names}[/] on {address}, task queue {task_queue!r}")
    await worker.run()


async def run_dev(
    references: list[str],
    address: str | None,
    data_dir: Path,
    task_queue: str,
    ui: bool,
    console: Console,
) -> None:
    agents, deps = _agents(references)
    server: DevServer | None = None
    if address is None:
        server = DevServer(
            db_file=data_dir / "temporal.db", ui=ui, log_file=data_dir / "temporal.log"
        )
        console.print("starting the embedded Temporal server…")
        await server.start()
        address = server.address
    try:
        client = await connect(address)
        worker = create_worker(client, agents, task_queue=task_queue, deps=deps)
        console.print(f"Temporal: {address}")
        if server is not None and server.ui_address:
            console.print(f"Temporal UI: http://{server.ui_address}")
        console.print(f"worker: {', '.join(a.name for a in agents)} on {task_queue!r}")
        console.print("Ctrl-C stops everything.")
        await worker.run()
    finally:
        if server is not None:
            await server.stop()
