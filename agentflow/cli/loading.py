"""Agent references: ``package.module:name[@task-queue]``, the one way every command names an agent.

``dev``, ``worker``, ``replay`` and ``chat`` all take ``--agent`` in this form, like uvicorn's
``module:app``. The current folder is importable (as ``python -m`` makes it), so a project's own
``agent.py`` is ``--agent agent:agent`` without touching ``PYTHONPATH``. The attribute is an
[`Agent`][agentflow.Agent], or a zero-argument factory returning an agent or an
``(agent, deps_factory)`` pair. Every mistake is one line naming the reference.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, cast

from agentflow.agent import Agent
from agentflow.exceptions import ConfigurationError
from agentflow.temporal.registry import DepsFactory

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_FORM = "expected package.module:name[@task-queue], e.g. myproject.agent:agent"


@dataclass(frozen=True, kw_only=True)
class AgentReference:
    """A parsed ``package.module:name[@task-queue]``."""

    module: str
    attribute: str
    queue: str | None = None

    @property
    def target(self) -> str:
        """``package.module:name``, without the task queue."""
        return f"{self.module}:{self.attribute}"

    @classmethod
    def parse(cls, text: str) -> AgentReference:
        """Read ``text``, or `ConfigurationError` saying what the form is."""
        target, at, queue = text.partition("@")
        module, colon, attribute = target.partition(":")
        if not colon or not _DOTTED.match(module) or not _DOTTED.match(attribute):
            raise ConfigurationError(f"--agent {text!r}: {_FORM}")
        if at and not queue.strip():
            raise ConfigurationError(f"--agent {text!r}: the task queue after '@' is empty")
        return cls(module=module, attribute=attribute, queue=queue.strip() if at else None)


def importable_current_folder() -> None:
    """Put the current folder first on ``sys.path``, as ``python -m`` does.

    The ``agentflow`` script's own folder is first instead, so a project's modules would not
    be found from the folder the user runs it in.
    """
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


def load_agent(reference: str | AgentReference) -> tuple[Agent[Any, Any], DepsFactory | None]:
    """Load ``package.module:name`` (a ``@task-queue`` suffix is allowed and ignored here).

    The attribute is an [`Agent`][agentflow.Agent], or a zero-argument factory returning an agent or
    an ``(agent, deps_factory)`` pair.
    """
    parsed = reference if isinstance(reference, AgentReference) else AgentReference.parse(reference)
    shown = repr(parsed.target)
    importable_current_folder()
    try:
        found = importlib.util.find_spec(parsed.module)
    except (ImportError, ValueError):  # a parent package that is missing or not a package
        found = None
    if found is None:
        raise ConfigurationError(
            f"--agent {shown}: no module {parsed.module!r} in {os.getcwd()} or the installed "
            "packages"
        )
    try:
        module = importlib.import_module(parsed.module)
    except Exception as exc:  # the user's module failed while importing: say how, in one line
        raise ConfigurationError(
            f"--agent {shown}: importing {parsed.module} failed: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        target: object = getattr(module, parsed.attribute)
    except AttributeError:
        raise ConfigurationError(
            f"--agent {shown}: {parsed.module} has no {parsed.attribute!r}"
        ) from None
    if not isinstance(target, Agent) and callable(target):
        required = [
            p
            for p in inspect.signature(target).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            raise ConfigurationError(
                f"--agent {shown}: a factory must take no arguments "
                f"(it takes {', '.join(p.name for p in required)})"
            )
        target = target()
    agent: object = cast(object, target)
    deps: DepsFactory | None = None
    if isinstance(target, tuple):
        pair = cast(tuple[object, ...], target)
        if len(pair) == 2 and callable(pair[1]):
            agent, deps = pair[0], cast(DepsFactory, pair[1])
    if not isinstance(agent, Agent):
        raise ConfigurationError(f"--agent {shown} is not an agentflow Agent")
    return cast(Agent[Any, Any], agent), deps
