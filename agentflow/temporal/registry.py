"""Agents known to this process, by name.

Workflow code looks agents up here to validate tool arguments and build the loop (both pure);
activities look them up to call the model and the tools. The module is passed through the
workflow sandbox, so the worker's registrations are what workflows see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentflow.agent import Agent
from agentflow.exceptions import ConfigurationError

DepsFactory = Callable[[], Any]
"""Builds the dependencies a tool call receives (a DB session, an API client)."""


@dataclass(frozen=True, slots=True)
class RegisteredAgent:
    agent: Agent[Any, Any]
    deps: DepsFactory


_agents: dict[str, RegisteredAgent] = {}


def register_agent(agent: Agent[Any, Any], *, deps: DepsFactory | None = None) -> None:
    """Make ``agent`` available to workflows and activities in this process under its name."""
    existing = _agents.get(agent.name)
    if existing is not None and existing.agent is not agent:
        raise ConfigurationError(f"another agent is already registered as {agent.name!r}")
    _agents[agent.name] = RegisteredAgent(agent, deps or (lambda: None))


def registered(name: str) -> RegisteredAgent:
    try:
        return _agents[name]
    except KeyError:
        known = ", ".join(sorted(_agents)) or "none"
        raise ConfigurationError(
            f"no agent named {name!r} is registered in this worker (registered: {known})"
        ) from None
