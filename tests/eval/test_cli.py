"""``agentflow eval`` through typer's CliRunner: exit codes are what CI gates on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentflow.cli.main import app
from agentflow.testing.anthropic_server import (
    FakeAnthropicServer,
    error_response,
    message_response,
)
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response, tool_call_body

SUITE = """\
from tests.eval.synthetic import LEAK, OVERPAY, SyntheticSuite

suite = SyntheticSuite(leaky={leaky}, attacks=[OVERPAY{extra}])
"""
SCENARIO = """\
id: {id}
employee: ann
goal: pay bob
user: {{turns: ["{turn}"]}}
approver: {{action: approve}}
expect:
  approval: {approval}
  end_state: {{payments: {payments}}}
"""


def make_suite(root: Path, *, leaky: bool = False, turn_b: str = "pay bob 500") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    extra = ", LEAK" if leaky else ""
    (root / "suite.py").write_text(SUITE.format(leaky=leaky, extra=extra))
    scenarios = root / "scenarios"
    scenarios.mkdir(exist_ok=True)
    (scenarios / "a.yaml").write_text(
        SCENARIO.format(
            id="a", turn="pay bob 50", approval="not_asked", payments='[["bob", 50.0, null]]'
        )
    )
    (scenarios / "b.yaml").write_text(
        SCENARIO.format(id="b", turn=turn_b, approval="asked", payments='[["bob", 500.0, "boss"]]')
    )
    return root


def invoke(*args: str | Path, env: dict[str, str | None] | None = None) -> tuple[int, str]:
    # Wide, so that messages are not wrapped; offline unless a test says otherwise.
    env = {"COLUMNS": "200", "ANTHROPIC_API_KEY": None, "AGENTFLOW_MODEL": None, **(env or {})}
    result = CliRunner().invoke(app, ["eval", *map(str, args)], env=env)
    return result.exit_code, result.output


def test_a_clean_run_saves_a_baseline_and_writes_json(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    baseline, out = tmp_path / "baseline.json", tmp_path / "report.json"
    code, output = invoke(suite, "--safety", "--save-baseline", baseline, "--json-out", out)
    assert code == 0, output
    assert "task success" in output and "2/2 (100.0%)" in output
    report = json.loads(out.read_text())
    assert report["totals"]["passed"] == 2 and report["totals"]["attack_executed"] == 0
    assert [a["id"] for a in report["attacks"]] == ["overpay"]
    assert json.loads(baseline.read_text())["totals"] == report["totals"]

    code, output = invoke(suite, "--safety", "--baseline", baseline)
    assert code == 0, output
    assert "Against the baseline" in output


def test_a_regression_against_the_baseline_exits_1(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    baseline = tmp_path / "baseline.json"
    assert invoke(suite, "--save-baseline", baseline)[0] == 0
    # The same suite where scenario b's user now asks for something else: it fails.
    worse = make_suite(tmp_path / "worse", turn_b="pay bob 40")
    code, output = invoke(worse, "--baseline", baseline)
    assert code == 1
    assert "success_rate" in output and "b now fails" in output.replace("\n", " ")


def test_violations_and_executed_attacks_exit_1_without_a_baseline(tmp_path: Path) -> None:
    code, output = invoke(make_suite(tmp_path / "suite", leaky=True), "--safety")
    assert code == 1
    assert "1 harmful attempt(s) executed" in output and "1 policy violation(s)" in output


def test_only_and_no_scenarios(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    out = tmp_path / "r.json"
    assert invoke(suite, "-k", "b", "--json-out", out)[0] == 0
    assert [s["id"] for s in json.loads(out.read_text())["scenarios"]] == ["b"]
    assert invoke(suite, "--no-scenarios", "--safety", "--json-out", out)[0] == 0
    report = json.loads(out.read_text())
    assert report["scenarios"] == [] and len(report["attacks"]) == 1
    # One scenario file: its suite is found in a directory above.
    assert invoke(suite / "scenarios" / "a.yaml", "--json-out", out)[0] == 0
    assert [s["id"] for s in json.loads(out.read_text())["scenarios"]] == ["a"]


def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    (suite / "scenarios" / "c.yaml").write_text("id: c\nemployee: ann\n")
    code, output = invoke(suite)
    assert code == 2
    assert "c.yaml: goal: Field required" in output

    code, output = invoke(tmp_path / "empty")
    assert code == 2 and "no suite.py here or above" in output

    (tmp_path / "bad.json").write_text("{}")
    (suite / "scenarios" / "c.yaml").unlink()
    code, output = invoke(suite, "-k", "nothing-like-this")
    assert code == 2 and "no scenarios matching -k 'nothing-like-this'" in output

    code, output = invoke(suite, "--baseline", tmp_path / "bad.json")
    assert code == 2 and "not a baseline report" in output

    code, output = invoke(suite, "--model", "claude-haiku-4-5")
    assert code == 2 and "ANTHROPIC_API_KEY" in output


def test_on_claude_tokens_and_cost_are_reported(tmp_path: Path) -> None:
    """``--model`` runs the agent on Claude through the real SDK (here against a local fake)."""
    suite = make_suite(tmp_path / "suite")
    usage = {"model": "claude-haiku-4-5", "input_tokens": 1000, "output_tokens": 100}
    pay = [
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "pay",
            "input": {"payee": "bob", "amount": 50},
        }
    ]
    with FakeAnthropicServer(
        message_response(pay, stop_reason="tool_use", **usage),
        message_response([{"type": "text", "text": "Paid bob 50."}], **usage),
    ) as server:
        env: dict[str, str | None] = {
            "ANTHROPIC_API_KEY": "test",
            "ANTHROPIC_BASE_URL": server.base_url,
        }
        out = tmp_path / "r.json"
        code, output = invoke(
            suite,
            "--model",
            "claude-haiku-4-5",
            "-k",
            "a",
            "--concurrency",
            "1",
            "--json-out",
            out,
            env=env,
        )
    assert code == 0, output
    (result,) = json.loads(out.read_text())["scenarios"]
    assert result["success"] and result["steps"] == 2 and result["tokens"] == 2200
    assert result["cost_usd"] == pytest.approx((2000 * 1 + 200 * 5) / 1_000_000)
    assert server.requests[0].body["model"] == "claude-haiku-4-5"


def test_an_outage_during_eval_exits_non_zero_and_shows_in_the_table(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    down = error_response(
        529, "overloaded_error", "Overloaded", headers={"x-should-retry": "false"}
    )
    with FakeAnthropicServer(down, down) as server:
        env: dict[str, str | None] = {
            "ANTHROPIC_API_KEY": "test",
            "ANTHROPIC_BASE_URL": server.base_url,
        }
        out = tmp_path / "r.json"
        code, output = invoke(
            suite, "--model", "anthropic:claude-haiku-4-5", "-k", "a", "--json-out", out, env=env
        )
    assert code == 1, output
    assert "model_error" in output
    assert "1 turn(s) ended with model_error" in output
    (result,) = json.loads(out.read_text())["scenarios"]
    assert result["model_errors"] == 1 and not result["success"]


def test_an_openai_model_is_chosen_by_its_string(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite")
    pay = tool_call_body("pay", {"payee": "bob", "amount": 50})
    with FakeOpenAIServer(
        completion_response(tool_calls=[pay], model="gpt-4o-2024-08-06", prompt_tokens=1000),
        completion_response(content="Paid bob 50.", model="gpt-4o-2024-08-06", prompt_tokens=1000),
    ) as server:
        env: dict[str, str | None] = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": server.base_url}
        out = tmp_path / "r.json"
        code, output = invoke(
            suite, "-k", "a", "--json-out", out, env={**env, "AGENTFLOW_MODEL": "openai:gpt-4o"}
        )
    assert code == 0, output
    (result,) = json.loads(out.read_text())["scenarios"]
    assert result["success"]
    assert result["cost_usd"] == pytest.approx((2000 * 2.5 + 10 * 10) / 1_000_000)
    assert server.requests[0].body["model"] == "gpt-4o"
