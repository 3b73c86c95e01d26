"""Workflow modules load deterministic code only, checked where the sandbox cannot hide it.

The worker passes our modules through Temporal's sandbox, so a workflow module that drags in a
client, a database driver or a process manager at import time fails no workflow test: it only
makes every workflow run share them. Importing each workflow module in a fresh interpreter
shows what it really loads.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentflow.temporal.plugin import PASSTHROUGH_MODULES

WORKFLOWS = Path(__file__).parents[2] / "workflows"
WORKFLOW_MODULES = sorted(
    "workflows" if path.stem == "__init__" else f"workflows.{path.stem}"
    for path in WORKFLOWS.glob("*.py")
)

# asyncio (which temporalio.workflow needs) already imports subprocess and socket, so those are
# loaded before the probe: what would use them is checked by name instead.
PROBE = """
import importlib, json, sys
import temporalio.workflow
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""

IO_MODULES = (
    # HTTP clients, database drivers and engines, SDKs that talk to the outside
    "aiohttp",
    "anthropic",
    "httpcore",
    "httpx",
    "openai",
    "psycopg",
    "psycopg2",
    "requests",
    "slack_sdk",
    "sqlalchemy",
    "sqlite3",
    "sqlmodel",
    "starlette",
    "urllib3",
    "uvicorn",
    # OpenTelemetry's SDK and exporters: workflow code records and exports nothing (activities
    # and the worker do). Its API (context, trace) is allowed: a turn makes its span context
    # current with it, as Temporal's own tracing interceptor does inside workflows.
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    # Temporal's own client and worker
    "temporalio.client",
    "temporalio.testing",
    "temporalio.worker",
    # ours: the process manager, the client, the worker, the audit trail, the stores, channels
    "agentflow.approvals.desk",
    "agentflow.approvals.ledger",
    "agentflow.approvals.orgchart",
    "agentflow.approvals.settings",
    "agentflow.approvals.slack",
    "agentflow.approvals.tables",
    "agentflow.audit",
    "agentflow.cli",
    "agentflow.eval",
    "agentflow.models.anthropic",
    "agentflow.temporal.client",
    "agentflow.temporal.connection",
    "agentflow.temporal.devserver",
    "agentflow.temporal.plugin",
    "agentflow.temporal.worker",
    "agentflow.testing",
    "agentflow.web",
)


def _is_io(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in IO_MODULES)


@pytest.mark.parametrize("module", WORKFLOW_MODULES)
def test_a_workflow_module_loads_no_io_module(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module], capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(result.stdout)
    assert [m for m in loaded if _is_io(m)] == []


def test_the_sandbox_passes_through_every_agentflow_module_a_workflow_imports() -> None:
    imported: set[str] = set()
    for path in WORKFLOWS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    ours = {m for m in imported if m.split(".")[0] == "agentflow"}
    assert ours
    assert {m for m in ours if not _passed_through(m)} == set()


def _passed_through(module: str) -> bool:
    # As the sandbox reads its list: a name passes its submodules through too.
    return any(module == name or module.startswith(f"{name}.") for name in PASSTHROUGH_MODULES)


@pytest.mark.parametrize("module", [*WORKFLOW_MODULES, "agentflow.workflows.agent"])
def test_the_sandbox_loads_the_workflow_modules_anew_for_each_run(module: str) -> None:
    """Passed through, workflow code would escape the sandbox's checks and share its state."""
    assert not _passed_through(module)


@pytest.mark.parametrize("package", ["workflows", "agentflow", "agentflow.temporal"])
def test_a_package_init_loads_no_io_module(package: str) -> None:
    """Workflow code imports leaf modules under these packages: their ``__init__`` stays light."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, package], capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(result.stdout)
    assert [m for m in loaded if _is_io(m)] == []


def test_only_the_composition_root_imports_the_workflows() -> None:
    """The framework never depends on workflow code; the worker's plugin assembles the two."""
    importers: set[str] = set()
    for path in (WORKFLOWS.parent / "agentflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            if any(name == "workflows" or name.startswith("workflows.") for name in names):
                importers.add(path.relative_to(WORKFLOWS.parent).as_posix())
    assert importers == {"agentflow/temporal/plugin.py"}
