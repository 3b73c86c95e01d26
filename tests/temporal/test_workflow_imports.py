"""Workflow modules load deterministic code only and hold no state, checked where the sandbox
cannot see it.

The worker passes our modules through Temporal's sandbox, the workflows included, so a workflow
module that drags in a client, a database driver or a process manager at import time fails no
workflow test: it only makes every workflow run share them. Importing each workflow module in a
fresh interpreter shows what it really loads; reading its globals shows that its runs share
nothing they could change.
"""

from __future__ import annotations
import __future__

import ast
import importlib
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import BuiltinFunctionType, FunctionType, MappingProxyType, ModuleType
from typing import TypeVar, get_origin

import pytest
from temporalio.common import RetryPolicy
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from agentflow.temporal.plugin import (
    LIBRARY_MODULES,
    PASSTHROUGH_MODULES,
    _passing_through,  # pyright: ignore[reportPrivateUsage]
    workflow_runner,
)
from agentflow.temporal.sandbox import CheckingSandboxRunner

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


def test_the_checking_sandbox_passes_through_every_agentflow_module_a_workflow_imports() -> None:
    """Workers pass all of agentflow through; the checking sandbox passes `LIBRARY_MODULES`, so a
    workflow importing anything else of ours (``agentflow`` itself) runs it again for every run."""
    imported: set[str] = set()
    for path in WORKFLOWS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    ours = {m for m in imported if m.split(".")[0] == "agentflow"}
    assert ours
    assert {m for m in ours if not _passed_through(m, LIBRARY_MODULES)} == set()


def _passed_through(module: str, modules: tuple[str, ...] = PASSTHROUGH_MODULES) -> bool:
    # As the sandbox reads its list: a name passes its submodules through too.
    return any(module == name or module.startswith(f"{name}.") for name in modules)


@pytest.mark.parametrize("module", [*WORKFLOW_MODULES, "agentflow.workflows.agent"])
def test_the_checking_sandbox_loads_the_workflow_modules_anew_for_each_run(module: str) -> None:
    """``workflow_runner(checked=True)``: the sandbox checks the workflows' code in every run."""
    assert _passed_through(module)
    assert not _passed_through(module, LIBRARY_MODULES)


@pytest.mark.parametrize("checked", [False, True])
def test_the_plugin_passes_the_workflows_through_unless_the_runner_checks_them(
    checked: bool,
) -> None:
    """The plugin adds its pass-through to the runner it is given: a plain sandbox (a worker's,
    or temporalio's default) passes the workflows through, a checking one keeps running them
    anew, or the checked replays would check nothing."""
    given = workflow_runner(checked=True) if checked else SandboxedWorkflowRunner()
    runner = _passing_through(given)
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert isinstance(runner, CheckingSandboxRunner) == checked
    passed = tuple(runner.restrictions.passthrough_modules)
    assert [_passed_through(m, passed) for m in WORKFLOW_MODULES] == [not checked] * len(
        WORKFLOW_MODULES
    )
    assert _passed_through("agentflow.temporal.transcripts", passed)


# What a workflow module may hold at its top level, shared by every run it serves once passed
# through: names of immutable values, and the classes and functions it defines or imports.
_SHAREABLE = (
    str,
    bytes,
    int,
    float,
    bool,
    type(None),
    tuple,
    frozenset,
    timedelta,
    type,
    TypeVar,
    FunctionType,
    BuiltinFunctionType,
    ModuleType,
    MappingProxyType,
    __future__._Feature,  # from __future__ import annotations
)


@pytest.mark.parametrize("module", WORKFLOW_MODULES)
def test_a_workflow_module_holds_no_state_its_runs_could_share(module: str) -> None:
    """Passed through, a module's globals are one object for every run: none may change."""
    loaded = importlib.import_module(module)
    mutable = {
        name: type(value).__name__
        for name, value in vars(loaded).items()
        if not name.startswith("__")
        and not isinstance(value, _SHAREABLE)
        and get_origin(value) is None  # a type alias
        and not (isinstance(value, RetryPolicy) and _frozen_retry(value))
    }
    assert mutable == {}


def _frozen_retry(policy: RetryPolicy) -> bool:
    return isinstance(policy.non_retryable_error_types, tuple | type(None))


@pytest.mark.parametrize("name", ["AgentWorkflow", "ApprovalWorkflow"])
def test_a_workflow_class_keeps_its_state_in_its_instances(name: str) -> None:
    """Class attributes are shared by every run too: only methods and constants there."""
    import workflows

    cls = getattr(workflows, name)
    shared = {
        attr: type(value).__name__
        for attr, value in vars(cls).items()
        if not attr.startswith("__")
        and not isinstance(value, (*_SHAREABLE, staticmethod, classmethod, property))
        and not callable(value)
    }
    assert shared == {}


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
