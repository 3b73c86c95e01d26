"""Who may approve what for whom: the org chart, read from the database.

The model never names an approver. A precondition asks
[`OrgChart.approver_chain`][agentflow.approvals.OrgChart.approver_chain] for the requester's chain
when the request is created; the chain travels with the request into the ``ApprovalWorkflow``, whose
update validator admits only its current members (or, during a leave, the delegate the org chart
names for one of them, see [`OrgChart.delegation`][agentflow.approvals.OrgChart.delegation]).

The chain walks up the reporting line from the requester's manager and keeps those whose level
may approve the amount ([`ApprovalLimit`][agentflow.approvals.ApprovalLimit]): a manager for a
small overspend, a director above the manager's limit. The first is the approver, the next is
where the request escalates. The requester is never in their own chain, and a cycle in the data
ends the walk instead of looping.

When the line manager must always sign and a senior level must sign too above the manager's
limit, [`OrgChart.approval_stages`][agentflow.approvals.OrgChart.approval_stages] gives ordered
stages instead (manager, then director);
[`OrgChart.level_stage`][agentflow.approvals.OrgChart.level_stage] gives an M-of-N stage (two of the
company's directors).
"""

from __future__ import annotations

from agentflow.extras import require

require("audit", "agentflow.approvals.orgchart")  # a missing extra is one line naming it

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from agentflow.approvals.records import Delegation
from agentflow.approvals.tables import ApprovalLimit, Employee, Leave, create_tables, utc
from agentflow.binding import ApprovalStage


class LeaveSpec(BaseModel):
    """A leave as written in an org-chart file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    employee: str
    delegate: str
    starts: datetime
    ends: datetime


class EmployeeSpec(BaseModel):
    """One person of an org chart: who they report to, their level, how to reach them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    email: str | None = None
    slack_user_id: str | None = None
    manager: str | None = None
    level: str = "staff"


class OrgChartSpec(BaseModel):
    """An org chart as data (e.g. a JSON file for ``agentflow approvals org load``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    employees: tuple[EmployeeSpec, ...] = ()
    limits: dict[str, float] = {}
    """level -> the largest amount that level may approve."""
    leaves: tuple[LeaveSpec, ...] = ()


class OrgChart:
    """Queries on the org-chart tables; one instance per database, safe to share."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine)

    # -- reading -----------------------------------------------------------------------------

    def employee(self, employee_id: str) -> Employee | None:
        with Session(self.engine) as session:
            return session.get(Employee, employee_id)

    def by_slack_user(self, slack_user_id: str) -> Employee | None:
        """The employee a Slack user id belongs to; ``None`` for anyone not in the chart."""
        with Session(self.engine) as session:
            query = select(Employee).where(Employee.slack_user_id == slack_user_id)
            return session.exec(query).first()

    def employees(self, ids: Iterable[str]) -> dict[str, Employee]:
        wanted = set(ids)
        if not wanted:
            return {}
        with Session(self.engine) as session:
            found = session.exec(select(Employee).where(col(Employee.id).in_(wanted))).all()
            return {e.id: e for e in found}

    def limit(self, level: str) -> float | None:
        """The largest amount ``level`` may approve, or ``None`` when it may approve nothing."""
        with Session(self.engine) as session:
            row = session.get(ApprovalLimit, level)
            return None if row is None else row.max_amount

    def approver_chain(
        self, requester: str, amount: float = 0.0, *, depth: int = 2
    ) -> tuple[str, ...]:
        """Up to ``depth`` people above ``requester`` who may approve ``amount``, nearest first.

        Empty when the requester is unknown or nobody in their line may approve that much:
        callers must then refuse the action (fail closed), not let anyone approve it.
        """
        chain: list[str] = []
        with Session(self.engine) as session:
            person = session.get(Employee, requester)
            seen = {requester}
            limits = {row.level: row.max_amount for row in session.exec(select(ApprovalLimit))}
            while person is not None and person.manager_id and len(chain) < depth:
                if person.manager_id in seen:
                    break
                seen.add(person.manager_id)
                person = session.get(Employee, person.manager_id)
                if person is None:
                    break
                limit = limits.get(person.level)
                if limit is not None and amount <= limit:
                    chain.append(person.id)
        return tuple(chain)

    def approval_stages(self, requester: str, amount: float) -> tuple[ApprovalStage, ...]:
        """The manager's stage, then (above the manager's limit) the nearest senior who may.

        Within the amount the manager may approve, one stage: the manager, escalating to the
        next person above who may approve it. Above it, two ordered stages: the manager signs
        first, then the nearest person up the line whose level may approve ``amount`` (escalating
        to the next such). Empty when nobody may approve that much: refuse (fail closed).
        """
        with Session(self.engine) as session:
            limits = {row.level: row.max_amount for row in session.exec(select(ApprovalLimit))}
            line = self._line(session, requester)
        if not line:
            return ()
        able = [
            p.id for p in line if (limits.get(p.level) is not None and amount <= limits[p.level])
        ]
        if not able:
            return ()
        manager = line[0].id
        if able[0] == manager:
            return (
                ApprovalStage(approvers=(manager,), escalate_to=tuple(able[1:2]), name="manager"),
            )
        senior = next(p for p in line if p.id == able[0])
        return (
            ApprovalStage(approvers=(manager,), name="manager"),
            ApprovalStage(approvers=(senior.id,), escalate_to=tuple(able[1:2]), name=senior.level),
        )

    def level_stage(
        self, level: str, required: int, *, exclude: Iterable[str] = ()
    ) -> ApprovalStage | None:
        """``required`` of everyone at ``level`` (minus ``exclude``); ``None`` if too few."""
        excluded = set(exclude)
        with Session(self.engine) as session:
            query = select(Employee).where(Employee.level == level).order_by(col(Employee.id))
            people = tuple(e.id for e in session.exec(query).all() if e.id not in excluded)
        if len(people) < required:
            return None
        return ApprovalStage(approvers=people, required=required, name=f"{required} of {level}")

    @staticmethod
    def _line(session: Session, requester: str) -> list[Employee]:
        """The people above ``requester``, nearest first; a cycle ends the walk."""
        line: list[Employee] = []
        person = session.get(Employee, requester)
        seen = {requester}
        while person is not None and person.manager_id and person.manager_id not in seen:
            seen.add(person.manager_id)
            person = session.get(Employee, person.manager_id)
            if person is not None:
                line.append(person)
        return line

    def delegation(
        self, delegate: str, approvers: Sequence[str], at: datetime
    ) -> Delegation | None:
        """The leave that lets ``delegate`` decide for one of ``approvers`` at ``at``, if any.

        The nearest approver in the chain wins when ``delegate`` stands in for several.
        """
        at = utc(at)
        leaves = self._leaves(delegate_id=delegate)
        for approver in approvers:
            for leave in leaves:
                if leave.employee_id == approver and utc(leave.starts) <= at < utc(leave.ends):
                    return Delegation(
                        approver=approver,
                        delegate=delegate,
                        starts=utc(leave.starts),
                        ends=utc(leave.ends),
                    )
        return None

    def delegates_of(self, approver: str, at: datetime) -> list[str]:
        """Who stands in for ``approver`` at ``at`` (empty unless they are on leave)."""
        at = utc(at)
        return [
            leave.delegate_id
            for leave in self._leaves(employee_id=approver)
            if utc(leave.starts) <= at < utc(leave.ends)
        ]

    def _leaves(
        self, *, employee_id: str | None = None, delegate_id: str | None = None
    ) -> list[Leave]:
        with Session(self.engine) as session:
            query = select(Leave)
            if employee_id is not None:
                query = query.where(Leave.employee_id == employee_id)
            if delegate_id is not None:
                query = query.where(Leave.delegate_id == delegate_id)
            return list(session.exec(query.order_by(col(Leave.starts))).all())

    # -- writing -----------------------------------------------------------------------------

    def add_employee(
        self,
        employee_id: str,
        name: str,
        *,
        manager: str | None = None,
        level: str = "staff",
        slack_user_id: str | None = None,
        email: str | None = None,
    ) -> Employee:
        """Insert or replace one employee (managers must exist first: a foreign key)."""
        employee = Employee(
            id=employee_id,
            name=name,
            manager_id=manager,
            level=level,
            slack_user_id=slack_user_id,
            email=email,
        )
        with Session(self.engine) as session:
            stored = session.merge(employee)
            session.commit()
            session.refresh(stored)
            return stored

    def set_limit(self, level: str, max_amount: float) -> None:
        with Session(self.engine) as session:
            session.merge(ApprovalLimit(level=level, max_amount=max_amount))
            session.commit()

    def add_leave(self, employee: str, delegate: str, starts: datetime, ends: datetime) -> Leave:
        """Record a leave. A delegate must be someone else, and a leave must end after it starts."""
        if delegate == employee:
            raise ValueError("an employee cannot be their own delegate")
        if utc(ends) <= utc(starts):
            raise ValueError("a leave must end after it starts")
        leave = Leave(
            employee_id=employee, delegate_id=delegate, starts=utc(starts), ends=utc(ends)
        )
        with Session(self.engine) as session:
            session.add(leave)
            session.commit()
            session.refresh(leave)
            return leave

    def load(self, spec: OrgChartSpec) -> None:
        """Add (or replace) everything in ``spec``; managers are written before their reports."""
        for level, amount in spec.limits.items():
            self.set_limit(level, amount)
        pending = list(spec.employees)
        known = {e.id for e in pending}
        written: set[str] = set()
        while pending:
            ready = [
                e
                for e in pending
                if e.manager is None or e.manager in written or e.manager not in known
            ]
            if not ready:
                raise ValueError("the org chart's reporting lines form a cycle")
            for e in ready:
                self.add_employee(
                    e.id,
                    e.name,
                    manager=e.manager,
                    level=e.level,
                    slack_user_id=e.slack_user_id,
                    email=e.email,
                )
                written.add(e.id)
            pending = [e for e in pending if e.id not in written]
        for leave in spec.leaves:
            self.add_leave(leave.employee, leave.delegate, leave.starts, leave.ends)
