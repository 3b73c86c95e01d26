"""Find the agents a command should serve, from ``module:attribute`` references."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, cast

from agentflow.agent import Agent
from agentflow.exceptions import ConfigurationError
from agentflow.temporal.registry import DepsFactory


def load_agent(reference: str) -> tuple[Agent[Any, Any], DepsFactory | None]:
    """Load ``package.module:name``.

    The attribute is an :class:`Agent`, or a zero-argument factory returning an agent or an
    ``(agent, deps_factory)`` pair.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"--agent {reference!r}: expected 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"--agent {reference!r}: cannot import {module_name}: {exc}"
        ) from exc
    try:
        target: object = getattr(module, attribute)
    except AttributeError:
        raise ConfigurationError(
            f"--agent {reference!r}: {module_name} has no {attribute!r}"
        ) from None
    if not isinstance(target, Agent) and callable(target):
        required = [
            p
            for p in inspect.signature(target).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            raise ConfigurationError(
                f"--agent {reference!r}: a factory must take no arguments "
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
        raise ConfigurationError(f"--agent {reference!r} is not an agentflow Agent")
    return cast(Agent[Any, Any], agent), deps
