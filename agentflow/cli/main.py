"""``agentflow``: run workers and the embedded development stack.

Typer builds the CLI from these annotated functions; errors agentflow raises to callers are
shown as one clear line (and exit code 2), never as a traceback. A command whose extra is not
installed is still listed, and says in one line which extra to install.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agentflow.cli.approvals import approvals_app
from agentflow.cli.options import (
    AddressOption,
    DataDirOption,
    NamespaceOption,
    QueueOption,
    use_data_dir,
)
from agentflow.cli.stopping import run_until_stopped
from agentflow.exceptions import AgentflowError
from agentflow.extras import MissingExtra, installed, require

app = typer.Typer(
    name="agentflow",
    help="Agents that take real actions safely.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
app.add_typer(approvals_app)


def needs_extra(name: str, extra: str, help: str) -> None:
    """Register ``name`` as a command that says which extra to install, and nothing else."""

    def command() -> None:
        try:
            require(extra, f"agentflow {name}")
        except MissingExtra as exc:
            fail(exc)

    app.command(
        name=name,
        help=f"{help} [needs: pip install 'agentflow[{extra}]']",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(command)


if installed("audit"):
    from agentflow.cli.audit import audit_app
    from agentflow.cli.trace import trace

    app.add_typer(audit_app)
    app.command()(trace)
else:
    needs_extra("audit", "audit", "Check the audit trail.")
    needs_extra("trace", "audit", "A conversation's audit trail as a tree.")

AgentOption = Annotated[
    list[str],
    typer.Option(
        "--agent",
        "-a",
        help="An agent to serve, as package.module:name[@task-queue] (repeat for several); "
        "the current folder is importable.",
    ),
]
DeploymentOption = Annotated[
    str | None,
    typer.Option(
        envvar="AGENTFLOW_DEPLOYMENT_NAME",
        help="Worker Versioning: the worker deployment this worker belongs to (with --build-id); "
        "each workflow then stays on the build that started it.",
        show_default=False,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="provider:model for every agent served, over the model in its code (e.g. "
        "openai:gpt-5, or a comma-separated fallback chain); the travel example also reads "
        "AGENTFLOW_MODEL.",
        show_default=False,
    ),
]
BuildIdOption = Annotated[
    str | None,
    typer.Option(
        envvar="AGENTFLOW_BUILD_ID",
        help="Worker Versioning: this build's id within --deployment-name (e.g. a git sha).",
        show_default=False,
    ),
]


if installed("temporal"):
    from agentflow.cli.chat import chat

    app.command()(chat)
else:
    needs_extra("chat", "temporal", "Chat with a durable agent in the terminal.")

from agentflow.cli.init import init  # noqa: E402  (commands register after app exists)

app.command()(init)

from agentflow.cli.eval import eval_command  # noqa: E402  (commands register after app exists)

app.command(name="eval")(eval_command)

from agentflow.cli.replay import replay  # noqa: E402  (commands register after app exists)

app.command()(replay)

if installed("temporal"):
    from agentflow.cli.doctor import doctor

    app.command()(doctor)
else:
    needs_extra("doctor", "temporal", "Which conversations and approvals are stuck, and why.")


def fail(exc: AgentflowError) -> None:
    console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(code=2)


@app.command()
def worker(
    agent: AgentOption,
    temporal_address: AddressOption = None,
    namespace: NamespaceOption = None,
    task_queue: QueueOption = "agentflow",
    data_dir: DataDirOption = None,
    deployment_name: DeploymentOption = None,
    build_id: BuildIdOption = None,
    model: ModelOption = None,
) -> None:
    """Run a worker for AGENTs' conversations and approvals (Ctrl-C or SIGTERM stops it).

    Temporal is the one `agentflow dev` runs from the data folder, if any; else it is reached
    as Temporal's own tools reach it: the config file's profile, then the TEMPORAL_* variables
    (TEMPORAL_API_KEY, TEMPORAL_TLS_*, ...), then these options.
    """
    use_data_dir(data_dir)
    try:
        require("temporal", "agentflow worker")
        from agentflow.cli.stack import run_worker
        from agentflow.temporal.connection import TemporalConfig
        from agentflow.temporal.worker import worker_version

        config = TemporalConfig.load(temporal_address, namespace)
        version = worker_version(deployment_name, build_id)
        running = run_worker(agent, config, task_queue, console, version=version, model=model)
        if run_until_stopped(running):
            console.print("worker stopped")
    except AgentflowError as exc:
        fail(exc)


@app.command()
def dev(
    agent: AgentOption,
    temporal_address: Annotated[
        str | None,
        typer.Option(
            help="Use this Temporal cluster instead of starting the embedded server "
            "(reached with the TEMPORAL_* variables and the config file's profile)."
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            help="Namespace, over TEMPORAL_NAMESPACE (default 'default'); the embedded server "
            "creates it.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
    task_queue: QueueOption = "agentflow",
    ui: Annotated[bool, typer.Option(help="Serve Temporal's web UI.")] = True,
    deployment_name: DeploymentOption = None,
    build_id: BuildIdOption = None,
    model: ModelOption = None,
) -> None:
    """Start the embedded Temporal server and a worker; Ctrl-C or SIGTERM stops all cleanly.

    Everything goes in the data folder: Temporal's database and log, the application's and the
    audit trail's SQLite files (unless DATABASE_URL), and a record of where the server listens,
    which `chat`, `approvals`, `worker`, `replay` and `audit` read. One `dev` per folder.
    """
    from agentflow.datadir import data_dir as configured_data_dir

    use_data_dir(data_dir)
    folder = configured_data_dir()
    try:
        require("local" if temporal_address is None else "temporal", "agentflow dev")
        from agentflow.cli.stack import run_dev
        from agentflow.temporal.worker import worker_version

        version = worker_version(deployment_name, build_id)
        if run_until_stopped(
            run_dev(
                agent,
                temporal_address,
                namespace,
                folder,
                task_queue,
                ui,
                console,
                version=version,
                model=model,
            )
        ):
            console.print("stopped")
    except AgentflowError as exc:
        fail(exc)
