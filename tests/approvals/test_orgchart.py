"""The org chart decides who may approve: limits by level, never the requester, leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from agentflow.approvals import EmployeeSpec, LeaveSpec, OrgChart, OrgChartSpec
from tests.approvals.org import seed

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "chain"),
    [
        (0, ("bob", "dana")),
        (2_999.99, ("bob", "dana")),
        (3_000.01, ("dana", "erin")),
        (50_000, ("erin",)),
        (1_000_000, ()),
    ],
)
def test_the_chain_keeps_those_whose_level_may_approve_the_amount(
    engine: Engine, amount: float, chain: tuple[str, ...]
) -> None:
    org = seed(OrgChart(engine))
    assert org.approver_chain("alice", amount) == chain


def test_the_requester_is_never_in_their_own_chain(org: OrgChart) -> None:
    assert org.approver_chain("bob", 100) == ("dana", "erin")
    assert org.approver_chain("erin", 100) == ()


def test_unknown_requester_has_no_chain(org: OrgChart) -> None:
    assert org.approver_chain("nobody", 100) == ()


def test_a_cycle_in_the_reporting_lines_ends_the_walk(org: OrgChart) -> None:
    org.add_employee("x", "X", level="manager")
    org.add_employee("y", "Y", manager="x", level="manager")
    org.add_employee("x", "X", manager="y", level="manager")
    assert org.approver_chain("x", 100, depth=5) == ("y",)


def test_slack_users_map_to_employees(org: OrgChart) -> None:
    bob = org.by_slack_user("U0BOB")
    assert bob is not None and bob.id == "bob"
    assert org.by_slack_user("U0STRANGER") is None


def test_a_delegate_stands_in_only_during_the_leave(org: OrgChart) -> None:
    org.add_leave("bob", "carol", NOW, NOW + timedelta(days=7))

    during = org.delegation("carol", ("bob",), NOW + timedelta(days=1))
    assert during is not None
    assert (during.approver, during.delegate, during.ends) == ("bob", "carol", NOW + timedelta(7))
    assert org.delegates_of("bob", NOW) == ["carol"]

    assert org.delegation("carol", ("bob",), NOW - timedelta(seconds=1)) is None
    assert org.delegation("carol", ("bob",), NOW + timedelta(days=7)) is None
    assert org.delegates_of("bob", NOW + timedelta(days=8)) == []
    assert org.delegation("carol", ("dana",), NOW + timedelta(days=1)) is None


def test_a_leave_needs_someone_else_and_a_real_interval(org: OrgChart) -> None:
    with pytest.raises(ValueError, match="own delegate"):
        org.add_leave("bob", "bob", NOW, NOW + timedelta(days=1))
    with pytest.raises(ValueError, match="end after"):
        org.add_leave("bob", "carol", NOW, NOW)


def test_loading_a_chart_writes_managers_before_their_reports(sqlite_engine: Engine) -> None:
    org = OrgChart(sqlite_engine)
    org.load(
        OrgChartSpec(
            employees=(
                EmployeeSpec(id="ann", name="Ann", manager="ben"),
                EmployeeSpec(id="ben", name="Ben", manager="cy", level="manager"),
                EmployeeSpec(id="cy", name="Cy", level="director", slack_user_id="U0CY"),
            ),
            limits={"manager": 1_000, "director": 10_000},
            leaves=(LeaveSpec(employee="ben", delegate="cy", starts=NOW, ends=NOW + timedelta(1)),),
        )
    )
    assert org.approver_chain("ann", 500) == ("ben", "cy")
    assert org.approver_chain("ann", 5_000) == ("cy",)
    assert org.delegates_of("ben", NOW) == ["cy"]


@pytest.mark.parametrize(
    ("amount", "stages"),
    [
        # Within the manager's limit: one stage, escalating to the next who may approve it.
        (1_500, [(("bob",), ("dana",), "manager")]),
        # Above it: the manager signs, then the nearest senior whose limit covers the amount.
        (5_000, [(("bob",), (), "manager"), (("dana",), ("erin",), "director")]),
        (50_000, [(("bob",), (), "manager"), (("erin",), (), "vp")]),
        # Nobody may approve that much: no stages, so the caller must refuse.
        (500_000, []),
    ],
)
def test_approval_stages_add_a_senior_above_the_managers_limit(
    org: OrgChart, amount: float, stages: list[tuple[tuple[str, ...], tuple[str, ...], str]]
) -> None:
    found = org.approval_stages("alice", amount)
    assert [(s.approvers, s.escalate_to, s.name) for s in found] == stages
    assert all(s.required == 1 for s in found)


def test_approval_stages_of_someone_without_a_manager_are_empty(org: OrgChart) -> None:
    assert org.approval_stages("erin", 10) == ()
    assert org.approval_stages("nobody", 10) == ()


def test_level_stage_asks_m_of_n_and_never_the_excluded(org: OrgChart) -> None:
    org.add_employee("dirk", "Dirk Director", manager="erin", level="director")
    org.add_employee("dora", "Dora Director", manager="erin", level="director")
    stage = org.level_stage("director", 2, exclude=["dora"])
    assert stage is not None
    assert (stage.approvers, stage.required) == (("dana", "dirk"), 2)
    assert org.level_stage("director", 3, exclude=["dora"]) is None
