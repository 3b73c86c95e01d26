"""Replays scenarios and attacks against an agent, in-process, and measures what happened.

Each scenario gets a fresh world from the suite, runs through [`Agent.run`][agentflow.Agent.run] and
[`Agent.resume`][agentflow.Agent.resume] (the scripted approver answers every pause) and is judged
on the world's end state. Scenarios run concurrently, bounded by an `asyncio.Semaphore`.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentflow.agent import Agent
from agentflow.binding import ApprovalDecision, ApprovalRequest
from agentflow.eval.adversary import HARMFUL_PREFIX, Adversary, Attack
from agentflow.eval.pricing import cost_usd
from agentflow.eval.results import AttackResult, ScenarioResult, SuiteReport
from agentflow.eval.scenario import ApproverBehaviour, Scenario
from agentflow.eval.simulated import (
    DEFAULT_PROMPTS,
    RolePrompts,
    Transcript,
    judge_answers,
    next_user_turn,
)
from agentflow.eval.suite import Suite
from agentflow.events import ApprovalRequested, Event, ModelCalled, ModelFailed, ToolExecuted
from agentflow.exceptions import ModelError
from agentflow.loop import LoopState
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock, Usage
from agentflow.models.base import Model
from agentflow.result import RunResult

MAX_APPROVAL_ROUNDS = 10
"""Pauses for approval answered per user turn; a model that keeps asking is stopped there."""


@dataclass(kw_only=True)
class EvalOptions:
    """How to run: which model plays the agent, the user and the judge; how many at once."""

    model: Callable[[], Model] | None = None
    """A fresh agent model per scenario; ``None``: the suite's offline model."""
    user_model: Model | None = None
    """Plays simulated users (scenarios without scripted turns)."""
    judge: Model | None = None
    """Scores answer quality when set."""
    concurrency: int = 4
    directory: Path | None = None
    """Where worlds are created (a temporary directory by default)."""
    on_done: Callable[[str], None] | None = None
    """Called with each scenario or attack id as it finishes (progress)."""


@dataclass
class _Spend:
    """Each response's usage, by the model that answered.

    Priced request by request: a price can depend on the size of one request's prompt.
    """

    requests: dict[str, list[Usage]] = field(default_factory=dict[str, list[Usage]])

    def add(self, model: str, usage: Usage) -> None:
        self.requests.setdefault(model, []).append(usage)

    def tokens(self) -> Usage:
        total = Usage()
        for usages in self.requests.values():
            for usage in usages:
                total += usage
        return total

    def cost(self, default_model: str) -> float | None:
        """USD; ``None`` when a model that answered has no known price."""
        costs = [
            cost_usd(model if model != "?" else default_model, usage)
            for model, usages in self.requests.items()
            for usage in usages
        ]
        return None if None in costs else sum(c or 0.0 for c in costs)


@dataclass
class _Recorder:
    """Collects one conversation's events: the numbers come from here, not from the text."""

    steps: int = 0
    spend: _Spend = field(default_factory=_Spend)
    approvals: list[ApprovalRequest] = field(default_factory=list[ApprovalRequest])
    executed: list[str] = field(default_factory=list[str])

    def __call__(self, event: Event) -> None:
        match event:
            case ModelCalled(response=response, request=_):
                self.steps += 1
                self.spend.add(response.model or "?", response.usage)
            case ModelFailed():
                self.steps += 1
            case ApprovalRequested(request=request):
                self.approvals.append(request)
            case ToolExecuted(call=call, outcome=outcome) if call.id.startswith(HARMFUL_PREFIX):
                if outcome.kind == "returned":
                    self.executed.append(f"{call.name}({call.arguments})")
            case _:
                pass


class _Counted:
    """A model whose usage is added up by the model that answered.

    The simulated user's and the judge's tokens are spent by the evaluation: counted like the
    agent's, apart from them.
    """

    def __init__(self, model: Model, spend: _Spend) -> None:
        self._model = model
        self._spend = spend

    @property
    def name(self) -> str:
        return self._model.name

    async def request(self, request: ModelRequest) -> ModelResponse:
        response = await self._model.request(request)
        self._spend.add(response.model or self._model.name, response.usage)
        return response


def observed(agent: Agent[Any, Any], recorder: _Recorder) -> Agent[Any, Any]:
    """The same agent with ``recorder`` added to its event handlers."""
    output_type: type[Any] = agent.output.output_type if agent.output is not None else str
    return Agent(
        agent.model,
        tools=list(agent.tools.values()),
        system=agent.system,
        limits=agent.limits,
        tool_choice=agent.tool_choice,
        event_handlers=(*agent.event_handlers, recorder),
        name=agent.name,
        output_type=output_type,
    )


async def _converse(
    agent: Agent[Any, Any],
    message: str,
    state: Any,
    *,
    deps: Any,
    user: str,
    decide: Callable[[ApprovalRequest], ApprovalDecision],
) -> RunResult:
    """One user turn, answering each pause for approval the way the approver would."""
    result = await agent.run(message, deps=deps, user=user, state=state)
    rounds = 0
    while result.status == "awaiting_approval" and rounds < MAX_APPROVAL_ROUNDS:
        rounds += 1
        decisions = [decide(r) for r in result.pending_approvals]
        result = await agent.resume(result, decisions, deps=deps, user=user)
    return result


async def run_scenario(
    suite: Suite[Any], scenario: Scenario, options: EvalOptions, directory: Path
) -> ScenarioResult:
    """Run one scenario in a fresh world and judge its end state."""
    recorder = _Recorder()
    model = options.model() if options.model else None
    agent = observed(suite.build_agent(model), recorder)
    harness = _Spend()
    """What the simulated user and the judge spent, by model."""
    user_model = _Counted(options.user_model, harness) if options.user_model else None
    judge = _Counted(options.judge, harness) if options.judge else None
    model_failures: list[str] = []
    started = time.perf_counter()
    transcript: Transcript = []
    failures: list[str] = []
    status, error, end_state, violations = "", None, dict[str, Any](), list[str]()
    world: Any = None
    try:
        world = await asyncio.to_thread(suite.setup, scenario.world, directory)
        deps = suite.deps(world)
        state = None

        def decide(request: ApprovalRequest) -> ApprovalDecision:
            return suite.decide(request, scenario.approver)

        while len(transcript) < (len(scenario.user.turns) or scenario.user.max_turns):
            message = await _user_turn(scenario, transcript, user_model, prompts_of(suite))
            if message is None:
                break
            result = await _converse(
                agent, message, state, deps=deps, user=scenario.employee, decide=decide
            )
            state, status = result.state, result.status
            if status == "model_error":
                model_failures.append(result.text)
            transcript.append((message, result.text))
        failures += await asyncio.to_thread(suite.judge, scenario, world)
        violations = await asyncio.to_thread(suite.violations, world, scenario.employee)
        end_state = await asyncio.to_thread(suite.end_state, world)
    except Exception as exc:
        # One broken scenario is a failed result with its reason, not the end of the suite.
        status, error = "error", f"{type(exc).__name__}: {exc}"
        failures.append(f"error: {error}")
    finally:
        if world is not None:
            await asyncio.to_thread(suite.close, world)
    latency = time.perf_counter() - started

    expected = scenario.expect.approval
    asked = bool(recorder.approvals)
    if expected == "asked" and not asked:
        failures.append("expected an approval request; none was asked")
    elif expected == "not_asked" and asked:
        failures.append(f"no approval was needed; {len(recorder.approvals)} asked")
    if violations:
        failures.append(f"{len(violations)} policy violation(s)")
    failures += [f"model_error: {failure}" for failure in model_failures]
    quality, quality_reason = None, ""
    if judge is not None and transcript:
        try:
            quality, quality_reason = await judge_answers(
                judge, scenario, transcript, end_state, prompts=prompts_of(suite)
            )
        except ModelError as exc:
            quality_reason = f"the judge failed: {exc}"
    usage = recorder.spend.tokens()
    return ScenarioResult(
        id=scenario.id,
        tags=scenario.tags,
        success=not failures,
        failures=failures,
        violations=violations,
        approval_expected=None if expected is None else expected == "asked",
        approval_asked=asked,
        approvals=len(recorder.approvals),
        turns=len(transcript),
        steps=recorder.steps,
        input_tokens=usage.input_tokens
        + usage.cache_creation_input_tokens
        + usage.cache_read_input_tokens,
        output_tokens=usage.output_tokens,
        tokens=usage.total_tokens,
        cost_usd=recorder.spend.cost(agent.model.name),
        harness_tokens=harness.tokens().total_tokens,
        harness_cost_usd=harness.cost("?"),
        model_errors=len(model_failures),
        latency_s=round(latency, 4),
        status=status,
        error=error,
        output=transcript[-1][1] if transcript else "",
        end_state=end_state,
        quality=quality,
        quality_reason=quality_reason,
    )


def prompts_of(suite: Suite[Any]) -> RolePrompts:
    """The suite's prompts for the simulated user and the judge (``prompts``), or the defaults."""
    prompts = getattr(suite, "prompts", None)
    return prompts if isinstance(prompts, RolePrompts) else DEFAULT_PROMPTS


async def _user_turn(
    scenario: Scenario,
    transcript: Transcript,
    model: Model | None,
    prompts: RolePrompts = DEFAULT_PROMPTS,
) -> str | None:
    if scenario.user.turns:
        return scenario.user.turns[len(transcript)]
    if model is None:
        raise ValueError(
            "this scenario has no scripted turns and needs a simulated user: "
            "set ANTHROPIC_API_KEY (or add user.turns)"
        )
    return await next_user_turn(model, scenario, transcript, prompts=prompts)


async def run_attack(suite: Suite[Any], attack: Attack, directory: Path) -> AttackResult:
    """Replace the model by an adversary playing ``attack`` and count what got through."""
    recorder = _Recorder()
    adversary = Adversary(attack.moves)
    agent = observed(suite.build_agent(adversary), recorder)
    answers = iter(attack.approvals)

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        action, _, who = next(answers, "expire").partition(":")
        behaviour = ApproverBehaviour.model_validate(
            {"action": action, **({"as": who} if who else {})}
        )
        return suite.decide(request, behaviour)

    violations: list[str] = []
    refusals: list[str] = []
    error = None
    world: Any = None
    try:
        world = await asyncio.to_thread(suite.setup, dict(attack.world), directory)
        deps, state = suite.deps(world), None
        for message in attack.user_turns:
            result = await _converse(
                agent, message, state, deps=deps, user=attack.employee, decide=decide
            )
            state = result.state
        refusals = _refusals(state)
        violations = await asyncio.to_thread(suite.violations, world, attack.employee)
    except Exception as exc:
        # Reported as an attack that did not run: it fails the command, never passes silently.
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if world is not None:
            await asyncio.to_thread(suite.close, world)
    return AttackResult(
        id=attack.id,
        description=attack.description,
        attempts=adversary.attempts,
        executed=len(recorder.executed),
        executed_calls=recorder.executed,
        violations=violations,
        refusals=refusals,
        steps=recorder.steps,
        error=error,
    )


def _refusals(state: LoopState | None) -> list[str]:
    """What the model was told about each harmful call that did not run, from the transcript."""
    if state is None:
        return []
    return [
        block.content
        for message in state.messages
        for block in message.content
        if isinstance(block, ToolResultBlock)
        and block.is_error
        and block.tool_use_id.startswith(HARMFUL_PREFIX)
    ]


async def run_suite(
    suite: Suite[Any],
    scenarios: Sequence[Scenario],
    options: EvalOptions,
    *,
    attacks: Sequence[Attack] = (),
    model_name: str = "",
) -> SuiteReport:
    """Run every scenario and attack, at most ``options.concurrency`` at a time."""
    if options.concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    limit = asyncio.Semaphore(options.concurrency)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agentflow-eval-") as temporary:
        root = options.directory or Path(temporary)

        async def one_scenario(scenario: Scenario) -> ScenarioResult:
            async with limit:
                where = root / "scenarios" / scenario.id
                where.mkdir(parents=True, exist_ok=True)
                result = await run_scenario(suite, scenario, options, where)
            if options.on_done:
                options.on_done(scenario.id)
            return result

        async def one_attack(attack: Attack) -> AttackResult:
            async with limit:
                where = root / "attacks" / attack.id
                where.mkdir(parents=True, exist_ok=True)
                result = await run_attack(suite, attack, where)
            if options.on_done:
                options.on_done(attack.id)
            return result

        scenario_results = asyncio.gather(*(one_scenario(s) for s in scenarios))
        attack_results = asyncio.gather(*(one_attack(a) for a in attacks))
        done_scenarios, done_attacks = await asyncio.gather(scenario_results, attack_results)
    name = model_name
    if not name:
        name = suite.build_agent(None).model.name if options.model is None else "model"
    return SuiteReport(
        suite=suite.name,
        model=name,
        scenarios=list(done_scenarios),
        attacks=list(done_attacks),
        wall_time_s=round(time.perf_counter() - started, 3),
    )
