"""The seed command: a believable, deterministic company around the five demo people."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from agentflow.approvals import OrgChart
from agentflow.approvals.tables import ApprovalLimit, Employee
from examples.travel.agent import build_agent
from examples.travel.company import (
    EmployeeProfile,
    home_airport,
    policy_parameters,
    policy_record,
    profile,
    record_policy,
    save_profiles,
)
from examples.travel.inventory import EmbeddedInventory, airports
from examples.travel.org import DEMO_ORG, DEMO_PROFILES, open_ledger, open_org, policy_version
from examples.travel.policy import POLICY, TravelPolicy
from examples.travel.seed import (
    LEVELS,
    MAX_EMPLOYEES,
    OFFICES,
    SeedError,
    app,
    export_company,
    level_sizes,
    plan_company,
    read_slack_ids,
    seed_company,
)
from examples.travel.store import prepare_store
from examples.travel.tools import TravelDeps
from tests.databases import engine_for, sqlite_engine

RANK = {level: rank for rank, level in enumerate(reversed(LEVELS))}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database: a SQLite file, or a PostgreSQL schema of its own dropped afterwards."""
    yield from engine_for(request.param, tmp_path / "company.db", "travel_seed")


def employees_of(engine: Engine) -> dict[str, Employee]:
    with Session(engine) as session:
        return {e.id: e for e in session.exec(select(Employee)).all()}


def profiles_of(engine: Engine) -> dict[str, EmployeeProfile]:
    with Session(engine) as session:
        return {p.employee_id: p for p in session.exec(select(EmployeeProfile)).all()}


# -- the company --------------------------------------------------------------------------------


def test_same_seed_gives_the_same_company_byte_for_byte(engine: Engine, tmp_path: Path) -> None:
    seed_company(engine, employees=120, seed=7)
    other = sqlite_engine(tmp_path / "other.db")
    seed_company(other, employees=120, seed=7)
    assert export_company(engine) == export_company(other)
    different = sqlite_engine(tmp_path / "different.db")
    seed_company(different, employees=120, seed=8)
    assert export_company(different) != export_company(engine)


@pytest.mark.parametrize("size", [5, 6, 40, 120])
def test_n_employees_in_one_connected_hierarchy(engine: Engine, size: int) -> None:
    seed_company(engine, employees=size, seed=3)
    people = employees_of(engine)
    assert len(people) == size
    assert [e.id for e in people.values() if e.manager_id is None] == ["erin"]
    for employee in people.values():
        seen = [employee.id]
        while (boss := people[seen[-1]].manager_id) is not None:
            assert boss not in seen, f"cycle through {boss}"
            assert RANK[people[boss].level] > RANK[people[seen[-1]].level]
            seen.append(boss)
        assert seen[-1] == "erin"
    assert len(profiles_of(engine)) == size, "everyone has a travel profile"


@pytest.mark.parametrize("size", [85, 120, 300, MAX_EMPLOYEES])
def test_spans_of_control_are_four_to_eight(size: int) -> None:
    people = plan_company(size, seed=11)
    spans = Counter(p.employee.manager_id for p in people if p.employee.manager_id)
    assert len(people) == size
    assert min(spans.values()) >= 4 and max(spans.values()) <= 8, spans
    managers = {p.employee.id for p in people if p.employee.level != "staff"}
    assert set(spans) == managers, "every manager leads a team, no staff member does"


@pytest.mark.parametrize("size", range(5, 85, 7))
def test_small_companies_never_exceed_eight_reports(size: int) -> None:
    spans = Counter(p.employee.manager_id for p in plan_company(size, seed=2))
    del spans[None]
    assert max(spans.values()) <= 8


def test_home_airports_are_real_and_match_the_office(engine: Engine) -> None:
    seed_company(engine, employees=200, seed=5)
    offices = {o.city: o.airport for o in OFFICES}
    found = profiles_of(engine)
    for p in found.values():
        assert p.home_airport in airports()
        assert offices[p.office] == p.home_airport
        assert p.cost_centre.endswith(p.home_airport)
    assert len({p.office for p in found.values()}) == len(OFFICES), "every office is staffed"
    assert len({p.department for p in found.values()}) >= 4
    names = [e.name for e in employees_of(engine).values()]
    assert len(set(names)) > len(names) * 0.8, "names vary"
    assert any(not name.isascii() for name in names), "names keep their accents"
    assert all(e.id.isascii() for e in employees_of(engine).values())


def test_the_demo_people_keep_their_places(engine: Engine) -> None:
    seed_company(engine, employees=150, seed=9)
    people = employees_of(engine)
    for spec in DEMO_ORG.employees:
        person = people[spec.id]
        assert (person.name, person.manager_id, person.level) == (
            spec.name,
            spec.manager,
            spec.level,
        )
    assert home_airport(engine, "alice") == home_airport(engine, "carol") == "ZRH"
    assert profiles_of(engine)["dana"] == DEMO_PROFILES[1]
    with Session(engine) as session:
        limits = {row.level: row.max_amount for row in session.exec(select(ApprovalLimit))}
    assert limits == DEMO_ORG.limits
    org = OrgChart(engine)
    assert org.approver_chain("alice", 2_000) == ("bob", "dana")
    assert org.approver_chain("carol", 4_000) == ("dana", "erin")
    bobs_team = {e.id for e in people.values() if e.manager_id == "bob"}
    assert {"alice", "carol"} <= bobs_team and 4 <= len(bobs_team) <= 8


def test_a_second_run_changes_nothing(engine: Engine) -> None:
    seed_company(engine, employees=60, seed=4)
    before = export_company(engine)
    seed_company(engine, employees=60, seed=4)
    assert export_company(engine) == before
    assert len(employees_of(engine)) == 60


def test_another_seed_is_refused_unless_reset(engine: Engine, tmp_path: Path) -> None:
    seed_company(engine, employees=60, seed=4)
    before = export_company(engine)
    with pytest.raises(SeedError, match=r"seed 4 with 60 employees.*--reset"):
        seed_company(engine, employees=60, seed=5)
    with pytest.raises(SeedError, match="--reset"):
        seed_company(engine, employees=61, seed=4)
    assert export_company(engine) == before

    seed_company(engine, employees=30, seed=5, reset=True)
    fresh = sqlite_engine(tmp_path / "fresh.db")
    seed_company(fresh, employees=30, seed=5)
    assert export_company(engine) == export_company(fresh)


def test_an_org_chart_the_seed_did_not_make_is_refused(engine: Engine) -> None:
    org = OrgChart(engine)
    org.add_employee("zoe", "Zoe Real", level="vp")
    with pytest.raises(SeedError, match=r"did not make \(zoe"):
        seed_company(engine, employees=20, seed=1)
    assert set(employees_of(engine)) == {"zoe"}


def test_the_demo_database_is_seeded_on_top_of(engine: Engine) -> None:
    open_org(engine)  # what `make demo` does on a fresh database
    assert home_airport(engine, "alice") == "ZRH"
    assert home_airport(engine, "dana") == "FRA"
    seed_company(engine, employees=20, seed=1)
    assert len(employees_of(engine)) == 20
    assert home_airport(engine, "alice") == "ZRH"


def test_wrong_sizes_are_refused() -> None:
    for size in (4, 0, -3, MAX_EMPLOYEES + 1):
        with pytest.raises(SeedError, match="between 5 and 500"):
            level_sizes(size)


# -- Slack ids ----------------------------------------------------------------------------------


def test_slack_ids_are_given_to_the_people_named(engine: Engine, tmp_path: Path) -> None:
    seed_company(engine, employees=20, seed=1)
    path = tmp_path / "slack.json"
    path.write_text(json.dumps({"alice": "U0ALICE", "bob": "U0BOB"}))
    seed_company(engine, employees=20, seed=1, slack_ids=read_slack_ids(path))
    org = OrgChart(engine)
    found = org.by_slack_user("U0BOB")
    assert found is not None and found.id == "bob"
    # Moving an id to someone else takes it from its former holder.
    seed_company(engine, employees=20, seed=1, slack_ids={"carol": "U0ALICE"})
    moved = org.by_slack_user("U0ALICE")
    assert moved is not None and moved.id == "carol"
    alice = org.employee("alice")
    assert alice is not None and alice.slack_user_id is None


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("not json", "cannot read"),
        ('["alice"]', "JSON object"),
        ('{"alice": "robert\'); DROP TABLE agentflow_employee;--"}', "not a Slack user id"),
        ('{"alice": 42}', "not a Slack user id"),
        ('{"alice": "U0SAME", "bob": "U0SAME"}', "several employees"),
        (b"\xff\xfe".decode("latin-1"), "cannot read"),
    ],
)
def test_hostile_slack_ids_files_are_refused(tmp_path: Path, content: str, error: str) -> None:
    path = tmp_path / "slack.json"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(SeedError, match=error):
        read_slack_ids(path)


def test_slack_ids_for_strangers_change_nothing(engine: Engine) -> None:
    seed_company(engine, employees=20, seed=1)
    before = export_company(engine)
    with pytest.raises(SeedError, match="not in the company"):
        seed_company(engine, employees=20, seed=1, slack_ids={"alice": "U1", "mallory": "U2"})
    assert export_company(engine) == before


# -- profiles and the policy --------------------------------------------------------------------


@pytest.mark.parametrize("code", ["zrh", "XXX", "ZRH ", "", "ZRH' OR 1=1"])
def test_a_profile_with_an_unknown_airport_changes_nothing(engine: Engine, code: str) -> None:
    open_org(engine)
    good = EmployeeProfile.model_validate(DEMO_PROFILES[3].model_dump() | {"office": "Bern"})
    bad = EmployeeProfile.model_validate(DEMO_PROFILES[4].model_dump() | {"home_airport": code})
    with pytest.raises(ValueError, match="not the IATA code"):
        save_profiles(engine, [good, bad])
    assert profiles_of(engine) == {p.employee_id: p for p in DEMO_PROFILES}


def test_a_profile_for_nobody_changes_nothing(engine: Engine) -> None:
    open_org(engine)
    ghost = EmployeeProfile(
        employee_id="ghost", home_airport="LHR", office="London", department="X", cost_centre="X"
    )
    moved = EmployeeProfile.model_validate(DEMO_PROFILES[3].model_dump() | {"home_airport": "SIN"})
    with pytest.raises(ValueError, match="no employee ghost"):
        save_profiles(engine, [moved, ghost])
    assert home_airport(engine, "alice") == "ZRH"
    assert profile(engine, "ghost") is None and home_airport(engine, "nobody") is None


def test_a_policy_version_names_one_set_of_parameters(engine: Engine) -> None:
    version = policy_version(POLICY)
    first = record_policy(engine, version, POLICY)
    assert record_policy(engine, version, POLICY).effective_from == first.effective_from
    with pytest.raises(ValueError, match="other parameters"):
        record_policy(engine, version, TravelPolicy(fare_cap=99_999))
    stored = policy_record(engine, version)
    assert stored is not None and stored.parameters == policy_parameters(POLICY)
    assert stored.effective_from == first.effective_from
    assert stored.effective_from.tzinfo is not None
    assert policy_record(engine, "travel-policy:unknown") is None


async def test_a_seeded_employees_approval_traces_to_the_policy(engine: Engine) -> None:
    """A generated employee's out-of-policy trip goes to their manager; its policy is on file."""
    seed_company(engine, employees=120, seed=7)
    prepare_store(engine)
    people = employees_of(engine)
    traveller = next(
        e
        for e in sorted(people.values(), key=lambda e: e.id)
        if e.level == "staff" and e.manager_id != "bob" and home_airport(engine, e.id) == "LHR"
    )
    deps = TravelDeps(
        engine=engine,
        flights=EmbeddedInventory(seed=7, today=date(2026, 11, 25)),
        org=OrgChart(engine),
        ledger=open_ledger(engine),
    )
    agent = build_agent()
    search = await agent.run(
        "business flight from LHR to CDG on 2026-12-16", deps=deps, user=traveller.id
    )
    paused = await agent.run("book option 1", deps=deps, user=traveller.id, state=search.state)
    (request,) = paused.pending_approvals
    assert request.approvers[0] == traveller.manager_id

    ledger = open_ledger(engine)
    ledger.record_request("approval-1", "conversation-1", request)
    record = ledger.get("approval-1")
    assert record is not None
    stored = policy_record(engine, record.policy_version)
    assert stored is not None
    assert json.loads(stored.parameters)["fare_cap"] == POLICY.fare_cap
    digest = hashlib.sha256(stored.parameters.encode()).hexdigest()[:12]
    assert record.policy_version == f"travel-policy:{digest}"


# -- the command --------------------------------------------------------------------------------


def test_the_command_prints_a_summary_and_refuses_clearly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli' / 'company.db'}"
    runner = CliRunner()
    done = runner.invoke(app, ["--database-url", url, "--employees", "40", "--seed", "3"])
    assert done.exit_code == 0, done.output
    assert "Headcount" in done.output and "Zurich (ZRH)" in done.output
    assert "bob → dana" in done.output, "alice's approvers are shown"
    assert "40 employees, seed 3" in done.output

    refused = runner.invoke(app, ["--database-url", url, "--employees", "40", "--seed", "4"])
    assert refused.exit_code == 2
    assert "error:" in refused.output and "--reset" in refused.output

    missing = runner.invoke(app, ["--database-url", url, "--slack-ids", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "cannot read Slack ids" in missing.output

    nonsense = runner.invoke(app, ["--database-url", "nonsense://x"])
    assert nonsense.exit_code == 2 and "cannot use the database 'nonsense://x'" in nonsense.output

    reset = ["--database-url", url, "--employees", "12", "--seed", "4", "--reset"]
    assert runner.invoke(app, reset).exit_code == 0
    assert len(employees_of(create_engine(url))) == 12
