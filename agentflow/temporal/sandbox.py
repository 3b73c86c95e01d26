"""The sandbox agentflow's workflows run in, and what it costs per workflow run.

temporalio runs every workflow run in a fresh sandbox: it imports the workflow's module again,
so that no module state leaks from one run into the next, and with it every module that module
imports and the sandbox does not pass through. On a busy worker that is the largest cost a
conversation adds to the bare-Temporal floor, so three things keep it small:

- **Pass-through.** Every agentflow module but the workflows themselves passes through
  (`PASSTHROUGH_MODULES`), as does the pydantic stack under the data types: a run uses
  the worker's loaded modules instead of executing them again. An installed agentflow ships the
  workflows as ``agentflow.workflows``, so each run also executes ``agentflow/__init__``; what
  it imports is passed through too. agentflow's library code is deterministic, and the workflow
  modules load no I/O module (``tests/temporal/test_workflow_imports.py``).
- **Small workflow modules.** A conversation starts its approvals by type name, so
  ``AgentWorkflow``'s module does not load ``ApprovalWorkflow``'s.
- **Compiled once.** The workflow modules (and the packages above them) are found and compiled
  once per process (`compile_workflows_once`). Python's own import would look for their
  files and read their bytecode from ``__pycache__`` for every run or, where none is written
  (``PYTHONDONTWRITEBYTECODE=1``, common in container images), compile their source for every
  run. A worker so keeps running the workflow code it started with when the files are
  replaced under it, as during a deploy.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import pkgutil
import sys
import threading
from collections.abc import Sequence
from types import CodeType, ModuleType

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import agentflow

__all__ = ["PASSTHROUGH_MODULES", "WORKFLOWS_PACKAGE", "compile_workflows_once", "workflow_runner"]

WORKFLOWS_PACKAGE = (
    "agentflow.workflows" if importlib.util.find_spec("agentflow.workflows") else "workflows"
)
"""Where the workflow modules are: a wheel ships the repository's ``workflows/`` folder as
``agentflow.workflows`` (so installing agentflow claims no generic top-level name); a checkout
imports ``workflows`` itself."""

PASSTHROUGH_MODULES: tuple[str, ...] = (
    *sorted(
        f"agentflow.{module.name}"
        for module in pkgutil.iter_modules(agentflow.__path__)
        if module.name != "workflows"
    ),
    # The pydantic stack under our data types (the data converter builds validators in the
    # sandbox).
    "pydantic",
    "pydantic_core",
    "annotated_types",
)
"""What the sandbox takes from the worker as loaded: every agentflow module but the workflows
(a name passes its submodules through too), and pydantic."""


def workflow_runner(
    restrictions: SandboxRestrictions = SandboxRestrictions.default,
) -> SandboxedWorkflowRunner:
    """The sandbox for agentflow's workflows.

    ``restrictions`` (temporalio's default) with `PASSTHROUGH_MODULES` passed through; the
    workflow modules are compiled once (`compile_workflows_once`).
    """
    compile_workflows_once()
    return SandboxedWorkflowRunner(
        restrictions=restrictions.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


class _CompiledOnceLoader(importlib.machinery.SourceFileLoader):
    """A source loader that compiles (or reads the bytecode of) each file once per process."""

    _code: dict[str, CodeType] = {}  # noqa: RUF012 (one cache for every instance, on purpose)

    def get_code(self, fullname: str) -> CodeType:
        code = self._code.get(self.path)
        if code is None:
            code = super().get_code(fullname)
            if code is None:  # pragma: no cover (a source file always has code)
                raise ImportError(f"no code for {fullname}", name=fullname)
            # Code objects are immutable: every run executes the same one in a fresh module.
            code = self._code.setdefault(self.path, code)
        return code


class _CompiledOnceFinder(importlib.abc.MetaPathFinder):
    """Finds the named modules where Python first found them, and loads them compiled once."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)
        self._found: dict[str, tuple[str, list[str] | None]] = {}
        """Module name -> its source file and, for a package, where its submodules are."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        found = self._found.get(fullname)
        if found is None:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
            if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
                return spec  # not a plain source file: loaded as Python would
            assert spec.origin is not None  # a source file's spec names it
            found = self._found.setdefault(fullname, (spec.origin, spec.submodule_search_locations))
        origin, locations = found
        return importlib.util.spec_from_file_location(
            fullname,
            origin,
            loader=_CompiledOnceLoader(fullname, origin),
            submodule_search_locations=None if locations is None else list(locations),
        )


_install_lock = threading.Lock()


def compile_workflows_once() -> None:
    """Load the workflow modules, and the packages above them, compiled once per process.

    Installs an import finder for exactly those modules (idempotent). It changes nothing but
    how their code object is obtained: the sandbox still executes each module anew per run.
    """
    with _install_lock:
        if any(isinstance(finder, _CompiledOnceFinder) for finder in sys.meta_path):
            return
        package = importlib.import_module(WORKFLOWS_PACKAGE)
        parts = WORKFLOWS_PACKAGE.split(".")
        names = [".".join(parts[: i + 1]) for i in range(len(parts))]
        modules = pkgutil.iter_modules(package.__path__)
        names += [f"{WORKFLOWS_PACKAGE}.{module.name}" for module in modules]
        sys.meta_path.insert(0, _CompiledOnceFinder(names))
