"""Evaluation: how do you know the agent works, and what happens when the model is wrong?

- a **regression suite**: YAML scenarios (`Scenario`) replayed in-process against an
  agent and judged on the end state of its world (task success, policy violations, approval
  precision and recall, steps, tokens, cost, latency), compared with a saved baseline;
- a **safety suite**: the model replaced by an `Adversary` that plays an
  `Attack`, counting harmful calls attempted and executed (the goal is none).

The domain comes in through a `Suite`; ``agentflow eval PATH`` runs one from the shell.
"""

from agentflow.eval.adversary import Adversary, Attack, Call, Move
from agentflow.eval.approver import scripted_decision
from agentflow.eval.baseline import Regression, compare
from agentflow.eval.pricing import PRICES, PRICES_AS_OF, Price, cost_usd, model_family, price_of
from agentflow.eval.results import AttackResult, ScenarioResult, SuiteReport, Totals
from agentflow.eval.runner import EvalOptions, run_attack, run_scenario, run_suite
from agentflow.eval.scenario import (
    ApproverBehaviour,
    Expectation,
    Scenario,
    ScenarioError,
    UserScript,
    load_scenario,
    load_scenarios,
)
from agentflow.eval.suite import Suite, load_suite

__all__ = [
    # scenarios
    "ApproverBehaviour",
    "Expectation",
    "Scenario",
    "ScenarioError",
    "UserScript",
    "load_scenario",
    "load_scenarios",
    # suites and running
    "EvalOptions",
    "Suite",
    "load_suite",
    "run_attack",
    "run_scenario",
    "run_suite",
    "scripted_decision",
    # the hijacked model
    "Adversary",
    "Attack",
    "Call",
    "Move",
    # results
    "AttackResult",
    "ScenarioResult",
    "SuiteReport",
    "Totals",
    "PRICES",
    "PRICES_AS_OF",
    "Price",
    "cost_usd",
    "model_family",
    "price_of",
    # baselines
    "Regression",
    "compare",
]
