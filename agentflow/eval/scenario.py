"""A scenario: one conversation to replay against an agent, and the end state it must reach.

Scenarios are YAML files (one per scenario) validated by the pydantic models below. The parts
that depend on the domain — how the world is seeded (``world``) and what the end state must be
(``expect.end_state``) — stay plain mappings here and are validated by the suite's own models
(`agentflow.eval.Suite`), so this module knows nothing about flights or bookings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentflow.exceptions import AgentflowError


class ScenarioError(AgentflowError):
    """A scenario file that cannot be read or does not match the scenario format."""


class _Strict(BaseModel):
    # A misspelt key (``expcet:``) must fail loudly, not silently judge nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserScript(_Strict):
    """Who talks to the agent: scripted turns, or a simulated user playing the goal/persona."""

    turns: tuple[str, ...] = ()
    """Said in order, one run each. Empty: a model plays the user (needs an API key)."""
    max_turns: int = Field(default=6, ge=1, le=30)
    """Bound on a simulated user's turns."""

    @property
    def simulated(self) -> bool:
        return not self.turns


class ApproverBehaviour(_Strict):
    """What the human approver does with every approval the scenario asks for.

    ``approve``/``deny``: the first authorised approver decides. ``expire``: nobody answers.
    ``escalate``: the first approver never answers, the request escalates and the next one in
    the chain decides ``then``. ``as_`` (``as`` in YAML) forces who decides, e.g. to check that
    a requester approving their own trip is refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    action: Literal["approve", "deny", "expire", "escalate"] = "expire"
    reason: str = ""
    then: Literal["approve", "deny"] = "approve"
    as_: str | None = Field(default=None, alias="as")


class Expectation(_Strict):
    """What must be true at the end, judged on the world's state, never on wording."""

    approval: Literal["asked", "not_asked"] | None = None
    """Whether the agent must have asked a human (``None``: either is fine)."""
    end_state: dict[str, Any] = Field(default_factory=dict[str, Any])
    """Validated by the suite's end-state model."""


class Scenario(_Strict):
    """One scenario file."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    tags: tuple[str, ...] = ()
    employee: str = Field(min_length=1)
    """Whom the agent acts for: the authenticated user, never taken from the model."""
    goal: str = Field(min_length=1)
    persona: str = "a busy employee who answers briefly"
    user: UserScript
    approver: ApproverBehaviour = ApproverBehaviour()
    world: dict[str, Any] = Field(default_factory=dict[str, Any])
    """How the suite seeds the world before the conversation."""
    expect: Expectation

    @model_validator(mode="after")
    def _turns_not_blank(self) -> Scenario:
        if any(not turn.strip() for turn in self.user.turns):
            raise ValueError("user.turns must not contain empty turns")
        return self


ScenarioCheck = Callable[[Scenario], None]
"""A suite's validation of the domain parts; raises ``ValueError`` (pydantic's included)."""


def load_scenario(path: Path, check: ScenarioCheck | None = None) -> Scenario:
    """Read and validate one YAML file; `ScenarioError` names the file and the field."""
    try:
        data: object = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{path}: expected a mapping of scenario fields at the top level")
    try:
        scenario = Scenario.model_validate(data)
        if check is not None:
            check(scenario)
    except ValidationError as exc:
        raise ScenarioError(f"{path}: {describe(exc)}") from exc
    except ValueError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    return scenario


def load_scenarios(path: Path, check: ScenarioCheck | None = None) -> list[Scenario]:
    """``path`` itself, or every ``*.yaml``/``*.yml`` under it sorted; ids must be unique."""
    if path.is_file():
        paths = [path]
    elif path.is_dir():
        paths = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
    else:
        raise ScenarioError(f"{path}: no such file or directory")
    scenarios = [load_scenario(p, check) for p in paths]
    seen: dict[str, Path] = {}
    for path, scenario in zip(paths, scenarios, strict=True):
        if scenario.id in seen:
            raise ScenarioError(
                f"{path}: id {scenario.id!r} is already used by {seen[scenario.id]}"
            )
        seen[scenario.id] = path
    return scenarios


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as ``field.path: message`` lines a scenario author can act on."""
    lines: list[str] = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)
