"""``agentflow eval PATH``: run a suite's scenarios (and attacks) and gate on the numbers.

Exit codes: 0 all good; 1 a regression against ``--baseline``, a policy violation, an
executed harmful attempt or a turn the model failed (``model_error``); 2 a configuration or
scenario-file error.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentflow.eval.baseline import Regression, compare, load_baseline, save_baseline
from agentflow.eval.report import print_report
from agentflow.eval.results import SuiteReport
from agentflow.eval.runner import EvalOptions, run_suite
from agentflow.eval.scenario import Scenario, load_scenarios
from agentflow.eval.suite import Suite, load_suite
from agentflow.exceptions import AgentflowError, ConfigurationError
from agentflow.models.base import Model
from agentflow.models.names import MODEL_ENV, infer_model

stderr = Console(stderr=True)


def eval_command(
    path: Annotated[
        Path, typer.Argument(help="A suite directory (with suite.py) or one scenario file.")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            envvar=MODEL_ENV,
            help="Run on this model, as provider:model (anthropic:claude-sonnet-5, "
            "openai:gpt-5; needs that provider's API key); default: offline.",
        ),
    ] = None,
    safety: Annotated[
        bool, typer.Option(help="Also run the safety suite: the model replaced by an adversary.")
    ] = False,
    scenarios: Annotated[
        bool, typer.Option(help="Run the scenarios (--no-scenarios: the safety suite only).")
    ] = True,
    only: Annotated[
        str | None, typer.Option("-k", help="Only scenarios whose id or a tag contains this.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Scenarios run at once.")] = 4,
    judge: Annotated[
        bool,
        typer.Option(help="Score answer quality with --model (or Claude) as a judge."),
    ] = False,
    user_model: Annotated[
        str | None,
        typer.Option(help="The model that plays simulated users (default: --model, or Claude)."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option(help="Write the report as JSON here.")] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="Compare with this saved report; regressions exit 1.")
    ] = None,
    save_baseline_to: Annotated[
        Path | None, typer.Option("--save-baseline", help="Save this report as the baseline.")
    ] = None,
) -> None:
    """Evaluate an agent: task success, policy violations, approvals, steps, tokens, cost."""
    stdout = Console()
    try:
        suite = load_suite(path)
        chosen = _scenarios(path, suite, only) if scenarios else []
        attacks = list(suite.attacks()) if safety else []
        before = load_baseline(baseline) if baseline else None
        options = EvalOptions(
            model=_factory(model) if model else None,
            user_model=_user_model(user_model or model),
            judge=infer_model(model or "anthropic:claude-sonnet-5") if judge else None,
            concurrency=concurrency,
        )
        report = _run(suite, chosen, attacks, options, model)
    except AgentflowError as exc:
        stderr.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(code=2) from None

    regressions = compare(report, before) if before else None
    print_report(report, stdout, regressions)
    if json_out:
        json_out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    if save_baseline_to:
        save_baseline(report, save_baseline_to)
    failed = _gate(report, regressions)
    for line in failed:
        stderr.print(f"[bold red]fail:[/] {line}")
    if failed:
        raise typer.Exit(code=1)


def _scenarios(path: Path, suite: Suite[Any], only: str | None) -> list[Scenario]:
    # A directory's scenarios are every YAML file under it; a file path is that file.
    chosen = load_scenarios(path, suite.check)
    if only:
        chosen = [s for s in chosen if only in s.id or any(only in t for t in s.tags)]
    if not chosen:
        matching = f" matching -k {only!r}" if only else ""
        raise ConfigurationError(f"{path}: no scenarios{matching}")
    return chosen


def _factory(name: str) -> Callable[[], Model]:
    """A fresh model per scenario; the first is made now, so a missing key fails at once."""
    infer_model(name)
    return lambda: infer_model(name)


def _user_model(name: str | None) -> Model | None:
    """Who plays simulated users: ``name``; else Claude when its key is set; else nobody.

    With nobody, a scenario's turns must be scripted.
    """
    if name:
        return infer_model(name)
    if not os.environ.get("ANTHROPIC_API_KEY"):
        return None
    return infer_model("anthropic:claude-sonnet-5")


def _run(
    suite: Suite[Any],
    scenarios: list[Scenario],
    attacks: list[Any],
    options: EvalOptions,
    model: str | None,
) -> SuiteReport:
    with Progress(
        TextColumn("[bold]eval[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(suite.name, total=len(scenarios) + len(attacks))
        options.on_done = lambda done: progress.update(task, advance=1, description=done)
        return asyncio.run(
            run_suite(suite, scenarios, options, attacks=attacks, model_name=model or "")
        )


def _gate(report: SuiteReport, regressions: list[Regression] | None) -> list[str]:
    """What fails the command: regressions, and the two numbers that must always be zero."""
    failed: list[str] = []
    if regressions:
        metrics = ", ".join(dict.fromkeys(r.metric for r in regressions))
        failed.append(f"{len(regressions)} regression(s) against the baseline: {metrics}")
    totals = report.totals
    if totals.model_errors:
        # An outage is not a result: the numbers above say nothing about the agent.
        failed.append(f"{totals.model_errors} turn(s) ended with model_error: the model failed")
    if regressions is None:
        if totals.policy_violations:
            failed.append(f"{totals.policy_violations} policy violation(s)")
        if totals.attack_executed:
            failed.append(f"{totals.attack_executed} harmful attempt(s) executed")
        failed += [f"attack {a.id} did not run: {a.error}" for a in report.attacks if a.error]
    return failed
