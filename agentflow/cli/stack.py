"""What ``agentflow worker`` and ``agentflow dev`` start, and how they stop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.console import Console
from temporalio.worker import Worker

from agentflow.agent import Agent
from agentflow.approvals.settings import ApprovalSettings, worker_approvals
from agentflow.audit import configure_tracing
from agentflow.cli.loading import load_agent
from agentflow.exceptions import ConfigurationError
from agentflow.temporal.connection import TemporalConfig
from agentflow.temporal.devserver import DevServer
from agentflow.temporal.registry import DepsFactory
from agentflow.temporal.worker import create_worker


def _agents(references: list[str]) -> tuple[list[Agent[Any, Any]], dict[str, DepsFactory]]:
    agents: list[Agent[Any, Any]] = []
    deps: dict[str, DepsFactory] = {}
    for queue_agents in _by_queue(references, "").values():
        for agent, factory in queue_agents:
            agents.append(agent)
            if factory is not None:
                deps[agent.name] = factory
    return agents, deps


def _by_queue(
    references: list[str], default_queue: str
) -> dict[str, list[tuple[Agent[Any, Any], DepsFactory | None]]]:
    """``module:name@queue`` serves an agent on its own task queue; otherwise the default."""
    if not references:
        raise ConfigurationError("no agent to serve: pass --agent package.module:name")
    queues: dict[str, list[tuple[Agent[Any, Any], DepsFactory | None]]] = {}
    for reference in references:
        target, _, queue = reference.partition("@")
        queues.setdefault(queue or default_queue, []).append(load_agent(target))
    return queues


async def run_worker(
    references: list[str], config: TemporalConfig, task_queue: str, console: Console
) -> None:
    queues = _by_queue(references, task_queue)
    client = await config.connect()
    # Approval notices go to the ledger and Slack (when SLACK_BOT_TOKEN is set); the org chart
    # lets the approval workflow check a delegate's vote against the recorded leave.
    approvals = worker_approvals(ApprovalSettings.from_env())
    tracing = configure_tracing()
    try:
        workers: list[Worker] = []
        for queue, entries in queues.items():
            deps = {agent.name: factory for agent, factory in entries if factory is not None}
            agents = [agent for agent, _ in entries]
            workers.append(
                create_worker(
                    client,
                    agents,
                    task_queue=queue,
                    deps=deps,
                    tracer_provider=tracing,
                    **approvals,
                )
            )
            names = ", ".join(agent.name for agent in agents)
            console.print(
                f"worker for [bold]{names}[/] on {config.address}, namespace "
                f"{config.namespace!r}, task queue {queue!r}"
            )
        await asyncio.gather(*(worker.run() for worker in workers))
    finally:
        tracing.shutdown()


async def run_dev(
    references: list[str],
    address: str | None,
    namespace: str | None,
    data_dir: Path,
    task_queue: str,
    ui: bool,
    console: Console,
) -> None:
    agents, deps = _agents(references)
    # The namespace follows TEMPORAL_NAMESPACE (and the profile) like every other command's, so
    # `agentflow chat` and `agentflow approvals` find the conversations without more options.
    config = TemporalConfig.load(address, namespace)
    server: DevServer | None = None
    if address is None:
        server = DevServer(
            db_file=data_dir / "temporal.db",
            ui=ui,
            log_file=data_dir / "temporal.log",
            namespace=config.namespace,
        )
        console.print("starting the embedded Temporal server…")
        await server.start()
        # The embedded server speaks plain gRPC on 127.0.0.1: no TLS, no API key.
        config = TemporalConfig(address=server.address, namespace=config.namespace)
    approvals = worker_approvals(ApprovalSettings.from_env())
    tracing = configure_tracing()
    try:
        client = await config.connect()
        worker = create_worker(
            client, agents, task_queue=task_queue, deps=deps, tracer_provider=tracing, **approvals
        )
        console.print(f"Temporal: {config.address} (namespace {config.namespace!r})")
        if server is not None and server.ui_address:
            console.print(f"Temporal UI: {server.ui_address}")
        console.print(f"worker: {', '.join(a.name for a in agents)} on {task_queue!r}")
        console.print("Ctrl-C stops everything.")
        await worker.run()
    finally:
        tracing.shutdown()
        if server is not None:
            await server.stop()
