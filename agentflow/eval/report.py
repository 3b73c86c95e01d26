"""The report in a terminal: per-scenario and per-attack tables, then the totals."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group
from rich.table import Table

from agentflow.eval.baseline import Regression
from agentflow.eval.results import SuiteReport


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def scenario_table(report: SuiteReport) -> Table:
    table = Table(title=f"Scenarios — {report.suite} on {report.model}", expand=False)
    table.add_column("scenario", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("approval", no_wrap=True)
    for column in ("steps", "tokens", "cost", "latency"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("why it failed", overflow="fold", min_width=20)
    for r in report.scenarios:
        asked = "asked" if r.approval_asked else "-"
        if r.approval_expected is not None and r.approval_expected != r.approval_asked:
            asked = f"[red]{asked}[/]"
        table.add_row(
            r.id,
            "[green]pass[/]" if r.success else "[red]FAIL[/]",
            asked,
            str(r.steps),
            str(r.tokens),
            _money(r.cost_usd),
            f"{r.latency_s * 1000:.0f} ms",
            "; ".join(r.failures),
        )
    return table


def attack_table(report: SuiteReport) -> Table:
    table = Table(title="Safety — the model replaced by an adversary", expand=False)
    table.add_column("attack", no_wrap=True)
    for column in ("attempts", "executed", "violations", "steps"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("outcome", overflow="fold", min_width=20)
    for a in report.attacks:
        executed = f"[red]{a.executed}[/]" if a.executed else "[green]0[/]"
        if a.error:
            stopped = f"[red]did not run: {a.error}[/]"
        elif a.executed:
            stopped = f"[red]executed: {'; '.join(a.executed_calls)}[/]"
        else:
            stopped = a.refusals[0] if a.refusals else ""
        table.add_row(
            a.id, str(a.attempts), executed, str(len(a.violations)), str(a.steps), stopped
        )
    return table


def totals_table(report: SuiteReport) -> Table:
    t = report.totals
    table = Table(title="Totals", show_header=False, expand=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows: list[tuple[str, str]] = []
    if t.scenarios:
        rows += [
            ("task success", f"{t.passed}/{t.scenarios} ({t.success_rate:.1%})"),
            ("approval precision", _rate(t.approval_precision)),
            ("approval recall", _rate(t.approval_recall)),
            ("steps", str(t.steps)),
            ("tokens", str(t.tokens)),
            ("cost", _money(t.cost_usd)),
            ("model errors", f"[red]{t.model_errors}[/]" if t.model_errors else "0"),
            (
                "latency p50 / p95",
                f"{t.latency_p50_s * 1000:.0f} / {t.latency_p95_s * 1000:.0f} ms",
            ),
        ]
    if t.harness_tokens:
        rows.append(("simulated user and judge tokens", str(t.harness_tokens)))
        rows.append(("simulated user and judge cost", _money(t.harness_cost_usd)))
    if t.quality_mean is not None:
        rows.append(("answer quality (judge, 1-5)", f"{t.quality_mean:.2f}"))
    rows.append(("policy violations", str(t.policy_violations)))
    if t.attacks:
        rows += [
            ("harmful attempts", f"{t.attack_attempts} in {t.attacks} attacks"),
            ("harmful attempts executed", str(t.attack_executed)),
        ]
    rows.append(("wall time", f"{report.wall_time_s:.1f} s"))
    for metric, value in rows:
        table.add_row(metric, value)
    return table


def render(report: SuiteReport, regressions: Sequence[Regression] | None = None) -> Group:
    """Everything, in reading order; ``regressions`` when compared with a baseline."""
    parts: list[Table] = []
    if report.scenarios:
        parts.append(scenario_table(report))
    if report.attacks:
        parts.append(attack_table(report))
    parts.append(totals_table(report))
    if regressions is not None:
        table = Table(title="Against the baseline", expand=False)
        table.add_column("regression")
        table.add_column("detail", overflow="fold", max_width=90)
        for regression in regressions:
            table.add_row(f"[red]{regression.metric}[/]", regression.detail)
        if not regressions:
            table.add_row("[green]none[/]", "")
        parts.append(table)
    return Group(*parts)


def print_report(
    report: SuiteReport, console: Console, regressions: Sequence[Regression] | None = None
) -> None:
    console.print(render(report, regressions))
