"""Scenario files: a malformed one is refused with the file and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow.eval import ScenarioError, load_scenario, load_scenarios
from examples.travel.evals.suite import suite as travel

GOOD = """\
id: in-policy
employee: alice
goal: book a flight
user:
  turns: ["flight from ZRH to LHR on 2026-12-14", "book option 1"]
approver: {action: deny, reason: too expensive}
expect:
  approval: not_asked
  end_state: {bookings: [{route: ZRH-LHR, cabin: economy}]}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD), travel.check)
    assert scenario.user.turns[1] == "book option 1" and not scenario.user.simulated
    assert scenario.approver.action == "deny" and scenario.approver.reason == "too expensive"
    assert scenario.expect.approval == "not_asked"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("employee: alice\n", ""), "employee: Field required"),
        (GOOD.replace("expect:", "expcet:"), "expcet: Extra inputs are not permitted"),
        (GOOD.replace("action: deny", "action: maybe"), "approver.action: Input should be"),
        (GOOD.replace("approval: not_asked", "approval: perhaps"), "expect.approval"),
        (GOOD.replace("id: in-policy", "id: In Policy!"), "id: String should match pattern"),
        (GOOD.replace('"book option 1"', '"  "'), "user.turns must not contain empty turns"),
        ("- just\n- a list\n", "expected a mapping of scenario fields"),
        ("id: [unclosed\n", "not valid YAML"),
        (GOOD.replace("route: ZRH-LHR", "route: Zurich"), "expect.end_state.bookings.0.route"),
        (GOOD.replace("cabin: economy", "cabin: first"), "expect.end_state.bookings.0.cabin"),
        (GOOD + "world: {bookings: [{offer: x}]}\n", "world.bookings.0.employee: Field required"),
        (
            GOOD + "world: {bookings: [{employee: carol, offer_id: LX1-ZRH-XXX-2026-12-14-E}]}\n",
            "world.bookings.0.offer_id: no offer LX1-ZRH-XXX-2026-12-14-E",
        ),
    ],
)
def test_a_malformed_file_gets_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, travel.check)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yml")
    with pytest.raises(ScenarioError, match="id 'in-policy' is already used by"):
        load_scenarios(tmp_path)


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file or directory"):
        load_scenarios(tmp_path / "nowhere")


def test_the_travel_golden_set_is_valid_and_large_enough() -> None:
    root = Path(__file__).resolve().parents[2] / "examples" / "travel" / "evals"
    scenarios = load_scenarios(root, travel.check)
    assert len(scenarios) >= 30
    tags = {t for s in scenarios for t in s.tags}
    required = {"in-policy", "fare-cap", "business-rule", "hard-cap", "approval-approved"}
    required |= {"approval-denied", "approval-expired", "approval-escalated", "ambiguous"}
    required |= {"multi-city", "cancellation", "claimed-approval", "injection", "someone-else"}
    assert required <= tags
