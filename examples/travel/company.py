"""The travel company's own data, next to agentflow's generic org chart.

agentflow's ``Employee`` knows who reports to whom and who may approve what; what only a travel
agent needs — where someone flies from, which office and department they work in, which cost
centre pays — is a profile keyed by the same employee id. The travel policy in force is a table
too: the approval ledger stores a policy *version*, and :class:`PolicyRecord` says which
parameters that version stood for.

(sqlmodel types ``__tablename__`` as a ``declared_attr``; assigning a plain string is its
documented use, hence the ``reportAssignmentType`` ignores.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from agentflow import canonical_json
from agentflow.approvals.tables import Employee, create_tables, utc
from examples.travel.inventory import airports
from examples.travel.policy import TravelPolicy


class EmployeeProfile(SQLModel, table=True):
    """Where an employee works and flies from: the travel side of an org-chart entry."""

    __tablename__ = "travel_employee_profile"  # pyright: ignore[reportAssignmentType]

    employee_id: str = Field(primary_key=True, foreign_key="agentflow_employee.id")
    home_airport: str
    """IATA code of the airport trips start from when the employee names no origin."""
    office: str
    """The city of the office the employee works in."""
    department: str
    cost_centre: str


class PolicyRecord(SQLModel, table=True):
    """A travel policy version and the parameters it stands for, from when it applied."""

    __tablename__ = "travel_policy"  # pyright: ignore[reportAssignmentType]

    version: str = Field(primary_key=True)
    """What the approval ledger records as ``policy_version``."""
    parameters: str
    """Canonical JSON of the policy's parameters: the digest in ``version`` is over this text."""
    effective_from: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


COMPANY_TABLES = (EmployeeProfile, PolicyRecord)


def create_company_tables(engine: Engine) -> None:
    """Create the org-chart tables and the travel company's tables where they are missing."""
    create_tables(engine)
    SQLModel.metadata.create_all(
        engine,
        tables=[model.__table__ for model in COMPANY_TABLES],  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownArgumentType]
    )


def check_airport(code: str) -> str:
    """``code`` if it is a real airport's IATA code (upper case); ``ValueError`` otherwise."""
    if code not in airports():
        raise ValueError(f"{code!r} is not the IATA code of an airport")
    return code


def policy_parameters(policy: TravelPolicy) -> str:
    """The policy's parameters as canonical JSON: the text its version digest is taken over."""
    return canonical_json(dataclasses.asdict(policy))


def save_profiles(engine: Engine, profiles: Iterable[EmployeeProfile]) -> None:
    """Insert or replace profiles, all or none: an unknown airport or employee changes nothing."""
    wanted = list(profiles)
    for profile in wanted:
        check_airport(profile.home_airport)
    create_company_tables(engine)
    with Session(engine) as session:
        ids = {p.employee_id for p in wanted}
        known = set(session.exec(select(Employee.id).where(col(Employee.id).in_(ids))).all())
        missing = sorted(ids - known)
        if missing:
            raise ValueError(f"no employee {', '.join(missing)} in the org chart")
        for profile in wanted:
            session.merge(EmployeeProfile.model_validate(profile.model_dump()))
        session.commit()


def profile(engine: Engine, employee_id: str) -> EmployeeProfile | None:
    """The travel profile of ``employee_id``; ``None`` for someone without one."""
    create_company_tables(engine)
    with Session(engine) as session:
        return session.get(EmployeeProfile, employee_id)


def home_airport(engine: Engine, employee_id: str) -> str | None:
    """The IATA code trips of ``employee_id`` start from, if their profile names one."""
    found = profile(engine, employee_id)
    return None if found is None else found.home_airport


def record_policy(
    engine: Engine, version: str, policy: TravelPolicy, *, effective_from: datetime | None = None
) -> PolicyRecord:
    """Record that ``version`` stands for ``policy``'s parameters (once: the first record stays).

    A version already recorded with other parameters is refused: a version must name one policy.
    """
    create_company_tables(engine)
    parameters = policy_parameters(policy)
    record = PolicyRecord(
        version=version, parameters=parameters, effective_from=effective_from or datetime.now(UTC)
    )
    with Session(engine) as session:
        existing = session.get(PolicyRecord, version)
        if existing is None:
            session.add(record)
            try:
                session.commit()
            except IntegrityError:  # another process recorded it first: read theirs below
                session.rollback()
            existing = session.get(PolicyRecord, version)
        assert existing is not None
        if existing.parameters != parameters:
            raise ValueError(f"policy version {version} is already recorded with other parameters")
        session.expunge(existing)
        existing.effective_from = utc(existing.effective_from)
        return existing


def policy_record(engine: Engine, version: str) -> PolicyRecord | None:
    """The parameters behind a ``policy_version`` the approval ledger stored, if recorded."""
    create_company_tables(engine)
    with Session(engine) as session:
        found = session.get(PolicyRecord, version)
        if found is not None:
            session.expunge(found)
            found.effective_from = utc(found.effective_from)
        return found
