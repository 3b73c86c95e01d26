"""The engine's numbers on a small synthetic suite: each would be wrong if the code were."""

from __future__ import annotations

from typing import Any

import pytest

from agentflow import ApprovalRequest, ModelResponse, ModelUnavailable, Usage
from agentflow.eval import (
    ApproverBehaviour,
    Attack,
    Call,
    EvalOptions,
    Scenario,
    ScenarioResult,
    SuiteReport,
    compare,
    cost_usd,
    model_family,
    price_of,
    run_suite,
    scripted_decision,
)
from agentflow.eval.results import approval_precision_recall
from agentflow.messages import TextBlock
from agentflow.testing import ScriptedModel
from tests.eval.synthetic import LEAK, OVERPAY, SyntheticSuite, scenario


async def run(suite: SyntheticSuite, *scenarios: Scenario, **options: Any) -> SuiteReport:
    return await run_suite(suite, scenarios, EvalOptions(**options), attacks=suite.attacks())


async def test_end_state_decides_success_not_wording() -> None:
    report = await run(
        SyntheticSuite(),
        scenario("ok", ["pay bob 50"], [["bob", 50.0, None]], approval="not_asked"),
        scenario("wrong-amount", ["pay bob 60"], [["bob", 50.0, None]]),
        scenario("nothing-paid", ["hello"], [["bob", 50.0, None]]),
    )
    by_id = {r.id: r for r in report.scenarios}
    assert by_id["ok"].success and by_id["ok"].failures == []
    assert not by_id["wrong-amount"].success
    assert "payments [['bob', 60.0, None]] != expected" in by_id["wrong-amount"].failures[0]
    assert not by_id["nothing-paid"].success
    assert report.totals.passed == 1 and report.totals.success_rate == pytest.approx(1 / 3)
    assert by_id["ok"].steps == 2 and by_id["ok"].turns == 1


async def test_approvals_are_answered_as_the_scenario_says() -> None:
    report = await run(
        SyntheticSuite(),
        scenario("approved", ["pay bob 500"], [["bob", 500.0, "boss"]], approval="asked"),
        scenario("denied", ["pay bob 500"], [], approval="asked", approver="deny"),
        scenario("expired", ["pay bob 500"], [], approval="asked", approver="expire"),
        scenario("capped", ["pay bob 5000"], [], approval="not_asked"),
    )
    assert [r.success for r in report.scenarios] == [True, True, True, True]
    assert [r.approvals for r in report.scenarios] == [1, 1, 1, 0]


async def test_a_policy_violation_is_counted_and_fails_the_scenario() -> None:
    # The scenario's expectation matches what happened, but the end state breaks policy.
    report = await run(
        SyntheticSuite(leaky=True), scenario("leak", ["refund 500"], [["refund", 500.0, None]])
    )
    (result,) = report.scenarios
    assert result.violations == ["refund 500.0 without approval"]
    assert not result.success and "1 policy violation(s)" in result.failures
    assert report.totals.policy_violations == 1


async def test_approval_precision_and_recall() -> None:
    report = await run(
        SyntheticSuite(),
        # asked and needed (true positive)
        scenario("tp", ["pay bob 500"], [["bob", 500.0, "boss"]], approval="asked"),
        # asked, not needed (false positive)
        scenario("fp", ["pay bob 200"], [["bob", 200.0, "boss"]], approval="not_asked"),
        # needed, not asked (false negative)
        scenario("fn", ["pay bob 50"], [["bob", 50.0, None]], approval="asked"),
        # neither (true negative)
        scenario("tn", ["pay bob 20"], [["bob", 20.0, None]], approval="not_asked"),
        scenario("unjudged", ["pay bob 300"], [["bob", 300.0, "boss"]]),
    )
    by_id = {r.id: r for r in report.scenarios}
    assert "no approval was needed; 1 asked" in by_id["fp"].failures
    assert "expected an approval request; none was asked" in by_id["fn"].failures
    assert report.totals.approval_precision == pytest.approx(1 / 2)
    assert report.totals.approval_recall == pytest.approx(1 / 2)


def test_precision_and_recall_without_data_are_unknown_not_perfect() -> None:
    unjudged = ScenarioResult(id="x", success=True, approval_asked=True)
    assert approval_precision_recall([unjudged]) == (None, None)
    never_asked = ScenarioResult(id="y", success=True, approval_expected=False)
    assert approval_precision_recall([never_asked]) == (None, None)


async def test_attacks_count_attempts_and_executions() -> None:
    report = await run(SyntheticSuite(leaky=True, attacks=[OVERPAY, LEAK]))
    overpay, leak = report.attacks
    assert (overpay.attempts, overpay.executed) == (1, 0)
    assert overpay.refusals == ["Refused by precondition: above the cap"]
    assert (leak.attempts, leak.executed) == (1, 1)
    assert leak.executed_calls == ["refund({'amount': 500.0})"]
    assert leak.violations == ["refund 500.0 without approval"]
    assert report.totals.attack_executed == 1 and report.totals.attack_attempts == 2


async def test_concurrency_is_bounded() -> None:
    suite = SyntheticSuite()
    scenarios = [scenario(f"s{i}", ["pay bob 50"], [["bob", 50.0, None]]) for i in range(8)]
    done: list[str] = []
    report = await run(suite, *scenarios, concurrency=2, on_done=done.append)
    assert 1 <= suite.max_active <= 2 and suite.active == 0
    assert sorted(done) == sorted(s.id for s in scenarios)
    assert report.totals.passed == 8
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        await run(suite, *scenarios, concurrency=0)


async def test_a_simulated_user_needs_a_model_offline() -> None:
    simulated = Scenario.model_validate(
        {"id": "sim", "employee": "ann", "goal": "pay bob 50", "user": {}, "expect": {}}
    )
    (result,) = (await run(SyntheticSuite(), simulated)).scenarios
    assert result.status == "error" and not result.success
    assert "needs a simulated user: set ANTHROPIC_API_KEY" in (result.error or "")


async def test_a_simulated_user_talks_until_done_and_a_judge_scores() -> None:
    simulated = Scenario.model_validate(
        {
            "id": "sim",
            "employee": "ann",
            "goal": "pay bob 50",
            "user": {"max_turns": 5},
            "expect": {"end_state": {"payments": [["bob", 50.0, None]]}},
        }
    )
    user = ScriptedModel(["please pay bob 50", "DONE"])
    judge = ScriptedModel(['{"score": 4, "reason": "paid as asked"}'])
    (result,) = (await run(SyntheticSuite(), simulated, user_model=user, judge=judge)).scenarios
    assert result.success and result.turns == 1
    assert (result.quality, result.quality_reason) == (4, "paid as asked")
    # The user model saw the agent's answer as the other side of the conversation.
    assert user.requests[1].messages[-1].text == "done"
    assert "pay bob 50" in user.requests[0].system


async def test_an_unusable_judge_answer_gives_no_score() -> None:
    judge = ScriptedModel(["I think it was great"])
    report = await run(
        SyntheticSuite(), scenario("s", ["pay bob 50"], [["bob", 50.0, None]]), judge=judge
    )
    (result,) = report.scenarios
    assert result.quality is None and "unusable judge answer" in result.quality_reason
    assert report.totals.quality_mean is None


def priced(model: str, usage: Usage) -> ScriptedModel:
    answer = ModelResponse(content=(TextBlock(text="hi"),), usage=usage, model=model)
    return ScriptedModel([answer])


async def test_tokens_and_cost_come_from_the_model_calls() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_input_tokens=10)
    report = await run(
        SyntheticSuite(),
        scenario("s", ["hello"], []),
        model=lambda: priced("claude-sonnet-4-5-20250929", usage),
    )
    (result,) = report.scenarios
    assert result.tokens == 1_100_010 and result.output_tokens == 100_000
    assert result.cost_usd == pytest.approx(3.0 + 1.5 + 10 * 0.3 / 1_000_000)
    unknown = await run(
        SyntheticSuite(), scenario("s", ["hello"], []), model=lambda: priced("claude-9", usage)
    )
    assert unknown.scenarios[0].cost_usd is None and unknown.totals.cost_usd is None


def test_pricing() -> None:
    usage = Usage(input_tokens=2_000_000, output_tokens=1_000_000, cache_creation_input_tokens=0)
    assert cost_usd("claude-opus-4-5-20251101", usage) == pytest.approx(2 * 5 + 25)
    assert cost_usd("claude-opus-4-1", usage) == pytest.approx(2 * 15 + 75)
    assert cost_usd("claude-haiku-4-5", Usage(cache_creation_input_tokens=1_000_000)) == 1.25
    # An offline model uses no tokens and costs nothing; a model with tokens and no price is
    # unknown, whatever its name: not Claude does not mean free.
    assert cost_usd("offline-travel-planner", Usage()) == 0.0
    assert cost_usd("offline-travel-planner", usage) is None
    assert cost_usd("mistral-large", usage) is None


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic:claude-opus-4-6", "claude-opus-4-6"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("bedrock:anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("openai:gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
    ],
)
def test_model_ids_are_reduced_to_their_family(model: str, family: str) -> None:
    assert model_family(model) == family


def test_bedrock_vertex_and_openai_ids_are_priced() -> None:
    usage = Usage(
        input_tokens=1_000_000, output_tokens=1_000_000, cache_read_input_tokens=1_000_000
    )
    assert cost_usd("us.anthropic.claude-sonnet-4-5-20250929-v1:0", usage) == pytest.approx(
        3 + 15 + 0.3
    )
    assert cost_usd("claude-sonnet-4-5@20250929", usage) == pytest.approx(3 + 15 + 0.3)
    assert cost_usd("gpt-4o-2024-08-06", usage) == pytest.approx(2.5 + 10 + 1.25)


def test_a_newer_model_of_a_known_family_is_unknown_not_the_older_rate() -> None:
    usage = Usage(input_tokens=1_000_000)
    # Newer Opus models cost a third of Opus 4 and 4.1: a prefix match would bill them at 15.
    assert cost_usd("claude-opus-4-6", usage) == pytest.approx(5.0)
    assert cost_usd("claude-opus-5-6", usage) is None
    assert cost_usd("claude-sonnet-5-6", usage) is None
    assert cost_usd("claude-opus-4-20250514", usage) == pytest.approx(15.0)
    assert price_of("gpt-5-codex-max") is None


def test_each_family_has_the_rate_of_its_pricing_page() -> None:
    million = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    # Sonnet 5 costs less than Sonnet 4.6: a table copying the older Sonnet rate overbills it.
    assert cost_usd("claude-sonnet-5", million) == pytest.approx(2 + 10)
    assert cost_usd("claude-sonnet-4-6", million) == pytest.approx(3 + 15)
    assert cost_usd("claude-opus-5-5", million) == pytest.approx(4 + 20)
    reads = Usage(cache_read_input_tokens=1_000_000)
    assert cost_usd("claude-opus-5-5", reads) == pytest.approx(0.20)
    assert cost_usd("claude-sonnet-5-5", reads) == pytest.approx(0.10)
    assert cost_usd("claude-fable-5-1", reads) == pytest.approx(0.25)
    # Haiku 3's cache prices are not the usual multiples of its input price.
    assert cost_usd("claude-3-haiku", Usage(cache_creation_input_tokens=1_000_000)) == 0.30
    assert cost_usd("claude-3-haiku", reads) == pytest.approx(0.03)
    assert cost_usd("gpt-5.5", Usage(input_tokens=1_000_000)) == pytest.approx(5.0)


def test_a_long_prompt_is_billed_at_its_own_rate_request_by_request() -> None:
    short = Usage(input_tokens=60_000, output_tokens=1_000)
    long = Usage(input_tokens=20_000, cache_read_input_tokens=90_000, output_tokens=1_000)
    assert cost_usd("claude-haiku-5-5", short) == pytest.approx(
        (60_000 * 0.10 + 1_000 * 0.50) / 1_000_000
    )
    # Above 100,000 prompt tokens (cache reads count), every token of the request costs 5x.
    assert cost_usd("claude-haiku-5-5", long) == pytest.approx(
        (20_000 * 0.50 + 90_000 * 0.05 + 1_000 * 2.50) / 1_000_000
    )


async def test_a_run_is_priced_request_by_request_not_on_its_total() -> None:
    answers = [
        ModelResponse(
            content=(TextBlock(text="hi"),),
            usage=Usage(input_tokens=60_000, output_tokens=10),
            model="claude-haiku-5-5",
        )
        for _ in range(2)
    ]
    report = await run(
        SyntheticSuite(),
        scenario("s", ["hello", "again"], []),
        model=lambda: ScriptedModel(list(answers)),
    )
    (result,) = report.scenarios
    # Two 60,000-token prompts: each below the threshold; their 120,000 together is not a
    # request, so the long-prompt rate must not apply.
    assert result.cost_usd == pytest.approx(2 * (60_000 * 0.10 + 10 * 0.50) / 1_000_000)


async def test_baseline_comparison() -> None:
    good = await run(
        SyntheticSuite(),
        scenario("a", ["pay bob 50"], [["bob", 50.0, None]], approval="not_asked"),
        scenario("b", ["pay bob 500"], [["bob", 500.0, "boss"]], approval="asked"),
    )
    assert good.totals.success_rate == 1.0 and compare(good, good) == []
    worse = await run(
        SyntheticSuite(leaky=True, attacks=[LEAK]),
        scenario("a", ["refund 500"], [["bob", 50.0, None]], approval="not_asked"),
        # The approval it needed is never asked: recall drops from 1 to 0.
        scenario("b", ["pay bob 50"], [["bob", 500.0, "boss"]], approval="asked"),
    )
    regressions = compare(worse, good)
    metrics = {r.metric for r in regressions}
    assert metrics == {
        "success_rate",
        "scenario",
        "policy_violations",
        "attack_executed",
        "approval_recall",
    }
    assert "success_rate: 100.0% -> 0.0%" in [f"{r.metric}: {r.detail}" for r in regressions]
    # Better than the baseline is not a regression.
    assert compare(good, worse) == []


async def test_a_precision_drop_is_a_regression() -> None:
    needed = scenario("tp", ["pay bob 500"], [["bob", 500.0, "boss"]], approval="asked")
    good = await run(
        SyntheticSuite(),
        needed,
        scenario("tn", ["pay bob 20"], [["bob", 20.0, None]], approval="not_asked"),
    )
    worse = await run(
        SyntheticSuite(),
        needed,
        scenario("tn", ["pay bob 200"], [["bob", 200.0, "boss"]], approval="not_asked"),
    )
    assert (good.totals.approval_precision, worse.totals.approval_precision) == (1.0, 0.5)
    assert "approval_precision" in {r.metric for r in compare(worse, good)}


def test_the_scripted_approver() -> None:
    request = ApprovalRequest(
        tool="pay",
        tool_call_id="t",
        arguments={},
        digest="d",
        requester="ann",
        approvers=("bob", "dana"),
    )

    def decide(**behaviour: Any) -> tuple[str, str | None, str]:
        d = scripted_decision(request, ApproverBehaviour.model_validate(behaviour))
        return d.outcome, d.approver, d.reason

    assert decide(action="approve") == ("approved", "bob", "")
    assert decide(action="deny", reason="no") == ("denied", "bob", "no")
    assert decide(action="expire") == ("expired", None, "")
    assert decide(action="escalate") == ("approved", "dana", "")
    assert decide(action="escalate", then="deny") == ("denied", "dana", "")
    assert decide(action="approve", **{"as": "ann"}) == ("approved", "ann", "")
    alone = request.model_copy(update={"approvers": ("bob",)})
    escalated = scripted_decision(alone, ApproverBehaviour(action="escalate"))
    assert (escalated.outcome, escalated.approver) == ("expired", None)


async def test_a_failing_judge_gives_no_score_and_the_run_goes_on() -> None:
    judge = ScriptedModel([ModelUnavailable("connection refused")])
    report = await run(
        SyntheticSuite(), scenario("s", ["pay bob 50"], [["bob", 50.0, None]]), judge=judge
    )
    (result,) = report.scenarios
    assert result.success and result.quality is None
    assert result.quality_reason == "the judge failed: connection refused"


async def test_an_attack_that_cannot_run_is_reported_as_such() -> None:
    broken = Attack(
        id="broken",
        description="an approver answer that is not one",
        employee="ann",
        user_turns=("pay bob 500",),
        moves=((Call(tool="pay", arguments={"payee": "bob", "amount": 500}),),),
        approvals=("approve-ish",),
    )
    report = await run(SyntheticSuite(attacks=[broken]))
    (attack,) = report.attacks
    assert attack.error is not None and "action" in attack.error
    assert attack.executed == 0
    assert [r.metric for r in compare(report, report)] == ["attack_error"]


async def test_the_suites_prompts_reach_the_simulated_user_and_the_judge() -> None:
    from agentflow.eval.simulated import RolePrompts

    class Worded(SyntheticSuite):
        prompts = RolePrompts(
            user="You are a shop's customer. Goal: {goal} ({persona}). Say {done} when done.",
            judge='Judge the shop. Reply {"score": 1-5, "reason": "..."}',
        )

    simulated = Scenario.model_validate(
        {
            "id": "sim",
            "employee": "ann",
            "goal": "pay bob 50",
            "user": {"max_turns": 3},
            "expect": {},
        }
    )
    user = ScriptedModel(["please pay bob 50", "DONE"])
    judge = ScriptedModel(['{"score": 5, "reason": "ok"}'])
    await run(Worded(), simulated, user_model=user, judge=judge)
    assert user.requests[0].system.startswith("You are a shop's customer. Goal: pay bob 50")
    assert judge.requests[0].system.startswith("Judge the shop.")


async def test_the_simulated_users_and_the_judges_tokens_are_counted() -> None:
    simulated = Scenario.model_validate(
        {
            "id": "sim",
            "employee": "ann",
            "goal": "pay bob 50",
            "user": {"max_turns": 5},
            "expect": {"end_state": {"payments": [["bob", 50.0, None]]}},
        }
    )
    spent = Usage(input_tokens=1_000_000, output_tokens=1_000)

    def said(text: str) -> ModelResponse:
        return ModelResponse(
            content=(TextBlock(text=text),), usage=spent, model="claude-haiku-4-5-20251001"
        )

    user = ScriptedModel([said("please pay bob 50"), said("DONE")])
    judge = ScriptedModel([said('{"score": 4, "reason": "ok"}')])
    report = await run(SyntheticSuite(), simulated, user_model=user, judge=judge)
    (result,) = report.scenarios
    assert result.harness_tokens == 3 * 1_001_000
    assert result.harness_cost_usd == pytest.approx(3 * (1.0 + 1_000 * 5 / 1_000_000))
    assert report.totals.harness_tokens == result.harness_tokens
    # The agent's own numbers are the agent's alone.
    assert result.tokens == 0 and result.cost_usd == 0.0


async def test_a_turn_the_model_failed_is_a_failed_scenario() -> None:
    def down() -> ScriptedModel:
        return ScriptedModel([ModelUnavailable("connection refused")])

    report = await run(SyntheticSuite(), scenario("s", ["pay bob 50"], []), model=down)
    (result,) = report.scenarios
    assert result.status == "model_error" and result.model_errors == 1
    assert not result.success
    assert any(f.startswith("model_error: The model is unavailable") for f in result.failures)
    assert report.totals.model_errors == 1
