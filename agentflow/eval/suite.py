"""The seam between the domain-agnostic engine and a domain: a `Suite`.

The engine knows how to replay conversations, count steps and tokens, play the approver and
judge approvals; a suite knows its world. It builds the agent, seeds a fresh world per scenario
(for the travel agent: a new SQLite database with the demo company), reads the end state back
and says what in it breaks policy. A suite directory holds ``suite.py`` (exposing ``suite``)
and the scenario files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from agentflow.agent import Agent
from agentflow.binding import ApprovalDecision, ApprovalRequest
from agentflow.eval.adversary import Attack
from agentflow.eval.scenario import ApproverBehaviour, Scenario
from agentflow.exceptions import ConfigurationError
from agentflow.models.base import Model

WorldT = TypeVar("WorldT")


@runtime_checkable
class Suite(Protocol[WorldT]):
    """A domain's part of an evaluation. ``WorldT`` is whatever one scenario's world is."""

    @property
    def name(self) -> str: ...

    def build_agent(self, model: Model | None) -> Agent[Any, Any]:
        """The agent under test on ``model``; ``None`` means the suite's offline model."""
        ...

    def check(self, scenario: Scenario) -> None:
        """Validate the domain parts (``world``, ``expect.end_state``); raise ``ValueError``."""
        ...

    def setup(self, scenario_world: dict[str, Any], directory: Path) -> WorldT:
        """A fresh world in ``directory``, seeded as the scenario (or attack) says."""
        ...

    def deps(self, world: WorldT) -> Any:
        """What the agent's tools get as ``ctx.deps`` in this world."""
        ...

    def end_state(self, world: WorldT) -> dict[str, Any]:
        """The end state as JSON-compatible data, for the report."""
        ...

    def judge(self, scenario: Scenario, world: WorldT) -> list[str]:
        """Every way the end state differs from ``scenario.expect.end_state`` (empty: passed)."""
        ...

    def violations(self, world: WorldT, employee: str) -> list[str]:
        """Every policy rule the end state breaks, whatever the conversation was."""
        ...

    def decide(self, request: ApprovalRequest, behaviour: ApproverBehaviour) -> ApprovalDecision:
        """The approver's decision (see `agentflow.eval.scripted_decision`)."""
        ...

    def close(self, world: WorldT) -> None: ...

    def attacks(self) -> Sequence[Attack]:
        """The hijacked-model attacks of the safety suite."""
        ...


def find_suite_file(path: Path) -> Path:
    """The ``suite.py`` in ``path`` (a directory) or in the nearest directory above it."""
    start = path.resolve()
    for directory in [start, *start.parents] if start.is_dir() else list(start.parents):
        if (directory / "suite.py").is_file():
            return directory / "suite.py"
    raise ConfigurationError(f"{path}: no suite.py here or above (it must define `suite`)")


def load_suite(path: Path) -> Suite[Any]:
    """Import the ``suite.py`` for ``path`` (see `find_suite_file`); return its ``suite``."""
    path = find_suite_file(path)
    # Import under its package name when it is one, so its own imports resolve as usual.
    name = _module_name(path)
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigurationError(f"{path}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigurationError(f"{path}: import failed: {exc}") from exc
    suite: object = getattr(sys.modules[name], "suite", None)
    if not isinstance(suite, Suite):
        raise ConfigurationError(f"{path}: `suite` is missing or does not implement Suite")
    return cast(Suite[Any], suite)


def _module_name(path: Path) -> str:
    """The module name to import ``path`` under; puts its import root on ``sys.path``.

    ``examples.travel.evals.suite`` when the directories are packages, else a name unique to
    the file.
    """
    parts = [path.stem]
    parent = path.resolve().parent
    while (parent / "__init__.py").is_file():
        parts.insert(0, parent.name)
        parent = parent.parent
    if str(parent) not in sys.path:
        sys.path.insert(0, str(parent))
    if len(parts) == 1:
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        return f"agentflow_eval_suite_{digest}"
    return ".".join(parts)
