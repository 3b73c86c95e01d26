"""The sandbox agentflow's workflows run in, and what it costs per workflow run.

temporalio runs every workflow run in a fresh sandbox: it imports the workflow's module again,
so that no module state leaks from one run into the next and the sandbox's checks (no clock, no
randomness, no I/O) apply to its code, and with it every module that module imports and the
sandbox does not pass through. On a busy worker that was the largest cost a conversation added
to the bare-Temporal floor: executing the workflow module, then temporalio reading the
signature and type hints of every handler of the class it defines, for every run.

So agentflow's default runner (`workflow_runner`) passes all of agentflow through, its
workflows included, and the pydantic stack under the data types: a run uses the classes the
worker loaded once. What the sandbox's fresh import gave is kept another way:

- **No module state.** The workflow modules define constants and their classes only; every
  conversation's state lives in its workflow instance
  (``tests/temporal/test_workflow_imports.py`` checks both).
- **The checks.** ``workflow_runner(checked=True)`` runs the workflow modules anew for every
  run, as temporalio does by default, so that the sandbox checks their code. The test suite
  replays every recorded history that way, and runs a conversation with an approval in it; the
  rest of agentflow's
  code that workflows call (the loop, the transcripts, the contracts) is deterministic library
  code and was passed through already.
- **Deploys.** A worker runs the workflow code it loaded when it started: files replaced under
  it change nothing until it restarts.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pkgutil
from dataclasses import dataclass

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import agentflow

__all__ = [
    "LIBRARY_MODULES",
    "CheckingSandboxRunner",
    "PASSTHROUGH_MODULES",
    "WORKFLOWS_PACKAGE",
    "passing_through",
    "workflow_runner",
]

WORKFLOWS_PACKAGE = (
    "agentflow.workflows" if importlib.util.find_spec("agentflow.workflows") else "workflows"
)
"""Where the workflow modules are: a wheel ships the repository's ``workflows/`` folder as
``agentflow.workflows`` (so installing agentflow claims no generic top-level name); a checkout
imports ``workflows`` itself."""

_PYDANTIC = ("pydantic", "pydantic_core", "annotated_types")
"""The pydantic stack under our data types (the data converter builds validators in the
sandbox)."""

LIBRARY_MODULES: tuple[str, ...] = (
    *sorted(
        f"agentflow.{module.name}"
        for module in pkgutil.iter_modules(agentflow.__path__)
        if module.name != "workflows"
    ),
    *_PYDANTIC,
)
"""What every sandbox agentflow sets up takes from the worker as loaded: every agentflow module
but the workflows (a name passes its submodules through too), and pydantic."""

PASSTHROUGH_MODULES: tuple[str, ...] = ("agentflow", WORKFLOWS_PACKAGE, *_PYDANTIC)
"""What `workflow_runner` passes through by default: all of agentflow, its workflows included,
and pydantic."""


@dataclass(frozen=True)
class CheckingSandboxRunner(SandboxedWorkflowRunner):
    """A sandbox that executes the workflow modules anew for every run, checking their code.

    As temporalio's sandbox does by default: only `LIBRARY_MODULES` pass through.
    """


def workflow_runner(
    restrictions: SandboxRestrictions = SandboxRestrictions.default,
    *,
    checked: bool = False,
) -> SandboxedWorkflowRunner:
    """The sandbox for agentflow's workflows, passing `PASSTHROUGH_MODULES` through.

    ``restrictions``: temporalio's default unless given.

    ``checked``: a `CheckingSandboxRunner` instead, where every run executes the workflow
    modules anew and the sandbox checks their code; slower, for tests.
    """
    kind = CheckingSandboxRunner if checked else SandboxedWorkflowRunner
    return passing_through(kind(restrictions))


def passing_through(runner: SandboxedWorkflowRunner) -> SandboxedWorkflowRunner:
    """``runner`` with agentflow passed through, the one rule for which modules.

    `LIBRARY_MODULES` for a `CheckingSandboxRunner`; `PASSTHROUGH_MODULES` (the workflows
    too) for any other sandbox.
    """
    checking = isinstance(runner, CheckingSandboxRunner)
    modules = LIBRARY_MODULES if checking else PASSTHROUGH_MODULES
    return dataclasses.replace(
        runner, restrictions=runner.restrictions.with_passthrough_modules(*modules)
    )
