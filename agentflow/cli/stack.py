"""What ``agentflow worker`` and ``agentflow dev`` start, and how they stop."""

from __future__ import annotations

from agentflow.extras import require

require("temporal", "agentflow.cli.stack")  # a missing extra is one line naming it

import asyncio
import os
from pathlib import Path
from typing import Any

from opentelemetry.trace import TracerProvider
from rich.console import Console
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import Worker

from agentflow.agent import Agent
from agentflow.approvals.settings import ApprovalSettings, worker_approvals
from agentflow.audit import configure_tracing
from agentflow.cli.loading import AgentReference, load_agent
from agentflow.exceptions import ConfigurationError
from agentflow.models.names import infer_model
from agentflow.temporal.connection import TemporalConfig
from agentflow.temporal.devrecord import (
    RECORD_NAME,
    SERVER_DB_NAME,
    DevRecord,
    forget_dev_record,
    write_dev_record,
)
from agentflow.temporal.devserver import DevServer
from agentflow.temporal.live import LiveText
from agentflow.temporal.registry import DepsFactory
from agentflow.temporal.worker import create_worker, make_current

Served = dict[str, list[tuple[AgentReference, Agent[Any, Any], DepsFactory | None]]]
"""task queue -> the agents served on it, each with its reference and dependencies."""


def _by_queue(references: list[str], default_queue: str, model: str | None = None) -> Served:
    """``module:name@queue`` serves an agent on its own task queue; otherwise the default.

    ``model`` (``provider:model``) replaces each agent's own model, checked before anything
    starts: a wrong name or a missing key or extra is one line, not a failed first turn.
    """
    if not references:
        raise ConfigurationError("no agent to serve: pass --agent package.module:name")
    chosen = infer_model(model) if model else None
    queues: Served = {}
    for text in references:
        reference = AgentReference.parse(text)
        agent, deps = load_agent(reference)
        if chosen is not None:
            agent.model = chosen
        queue = reference.queue or default_queue
        for _, other, _ in queues.get(queue, []):
            if other.name == agent.name and other is not agent:
                raise ConfigurationError(
                    f"two agents are named {agent.name!r} on task queue {queue!r}: give each "
                    "its own name (Agent(name=...))"
                )
        queues.setdefault(queue, []).append((reference, agent, deps))
    return queues


def _workers(
    client: Client,
    config: TemporalConfig,
    queues: Served,
    tracing: TracerProvider,
    console: Console,
    version: WorkerDeploymentVersion | None = None,
) -> list[Worker]:
    # Approval notices go to the ledger and Slack (when SLACK_BOT_TOKEN is set); the org chart
    # lets the approval workflow check a delegate's vote against the recorded leave.
    settings = ApprovalSettings.from_env()
    engine = settings.engine()
    approvals = worker_approvals(settings, engine)
    # Model calls write their text as it comes, for `agentflow chat` and the web chat to show.
    live = LiveText(engine)
    workers: list[Worker] = []
    for queue, entries in queues.items():
        deps = {agent.name: factory for _, agent, factory in entries if factory is not None}
        agents = [agent for _, agent, _ in entries]
        workers.append(
            create_worker(
                client,
                agents,
                task_queue=queue,
                deps=deps,
                tracer_provider=tracing,
                deployment=version,
                live_text=live,
                **approvals,
            )
        )
        names = ", ".join(agent.name for agent in agents)
        console.print(
            f"worker for [bold]{names}[/] on {config.address}, namespace "
            f"{config.namespace!r}, task queue {queue!r}"
        )
    if version is not None:
        console.print(
            f"versioned: deployment {version.deployment_name!r}, build {version.build_id!r}; "
            "each workflow stays on the build that started it"
        )
    return workers


async def run_worker(
    references: list[str],
    config: TemporalConfig,
    task_queue: str,
    console: Console,
    *,
    version: WorkerDeploymentVersion | None = None,
    model: str | None = None,
) -> None:
    queues = _by_queue(references, task_queue, model)
    client = await config.connect()
    tracing = configure_tracing()
    try:
        workers = _workers(client, config, queues, tracing, console, version)
        if version is not None:
            console.print(
                "new workflows start on the current build: make this one current with "
                f"`temporal worker deployment set-current-version --deployment-name "
                f"{version.deployment_name} --build-id {version.build_id}`"
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
    *,
    version: WorkerDeploymentVersion | None = None,
    model: str | None = None,
) -> None:
    queues = _by_queue(references, task_queue, model)
    # The namespace follows TEMPORAL_NAMESPACE (and the profile) like every other command's.
    config = TemporalConfig.load(address, namespace, dev_record=False)
    server: DevServer | None = None
    if address is None:
        server = DevServer(
            db_file=data_dir / SERVER_DB_NAME,
            ui=ui,
            log_file=data_dir / "temporal.log",
            namespace=config.namespace,
        )
        console.print("starting the embedded Temporal server…")
        await server.start()
        # The embedded server speaks plain gRPC on 127.0.0.1: no TLS, no API key.
        config = TemporalConfig(address=server.address, namespace=config.namespace)
    tracing = configure_tracing()
    try:
        client = await config.connect()
        workers = _workers(client, config, queues, tracing, console, version)
        console.print(f"Temporal: {config.address} (namespace {config.namespace!r})")
        if server is not None:
            if server.ui_address:
                console.print(f"Temporal UI: {server.ui_address}")
            # `agentflow chat`, `approvals`, `worker`, `replay` find the server here.
            write_dev_record(
                data_dir,
                DevRecord(
                    address=config.address,
                    namespace=config.namespace,
                    pid=os.getpid(),
                    ui_address=server.ui_address,
                    agents={
                        queue: {agent.name: ref.target for ref, agent, _ in entries}
                        for queue, entries in queues.items()
                    },
                ),
            )
            console.print(f"recorded in {data_dir / RECORD_NAME}: other commands find it there")
        console.print("Ctrl-C stops everything.")
        # In development the build just started is the current one: new workflows start on it.
        current = [make_current(client, version)] if version is not None else []
        await asyncio.gather(*(worker.run() for worker in workers), *current)
    finally:
        tracing.shutdown()
        if server is not None:
            forget_dev_record(data_dir, os.getpid())
            await server.stop()
