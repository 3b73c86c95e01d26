"""``python -m examples.travel.seed``: a believable company in the travel agent's database.

The five demo people (``DEMO_ORG``: erin → dana → bob → alice, carol) are always part of it,
with their levels, managers and profiles unchanged, so the demo and the docs keep working.
Around them the command grows a company from a seed: offices in real cities (their airports
are the employees' home airports), departments each led by a director, managers with teams of
four to eight, multicultural names drawn from small lists, the approval limits of ``DEMO_ORG``.

The same seed and size give the same company, byte for byte (:func:`export_company`). Running
it again changes nothing; another seed or size on a seeded database is refused unless
``--reset``, which first removes the org chart and the profiles (never bookings or approvals).
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Field, Session, SQLModel, col, select

from agentflow import canonical_json
from agentflow.approvals import OrgChart
from agentflow.approvals.settings import ApprovalSettings
from agentflow.approvals.tables import ApprovalLimit, Employee, Leave
from agentflow.cli.options import DataDirOption, use_data_dir
from examples.travel.company import (
    EmployeeProfile,
    PolicyRecord,
    create_company_tables,
    record_policy,
)
from examples.travel.org import DEMO_ORG, DEMO_PROFILES, policy_version
from examples.travel.policy import POLICY

MIN_EMPLOYEES = len(DEMO_ORG.employees)
MAX_EMPLOYEES = 500
"""One CEO, at most 8 directors, 8 managers each, 8 reports each: the levels hold 585."""
SPAN = (4, 8)
LEVELS = ("vp", "director", "manager", "staff")
"""From the top down; ``DEMO_ORG.limits`` says what each may approve."""
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


@dataclass(frozen=True)
class Office:
    city: str
    airport: str
    weight: int
    """How many of the company's teams sit here, relatively: headquarters is the largest."""


OFFICES = (
    Office("Zurich", "ZRH", 5),
    Office("London", "LHR", 4),
    Office("New York", "JFK", 3),
    Office("Frankfurt", "FRA", 3),
    Office("Singapore", "SIN", 2),
    Office("São Paulo", "GRU", 2),
)

DEPARTMENTS = (
    ("Engineering", "ENG"),
    ("Sales", "SAL"),
    ("Finance", "FIN"),
    ("Operations", "OPS"),
    ("Marketing", "MKT"),
    ("People", "PPL"),
    ("Legal", "LEG"),
    ("Product", "PRD"),
)
"""One per director, in order; dana leads Engineering."""

# Names by culture, so a first name goes with a family name from the same place.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "swiss": (
        ("Lukas", "Nina", "Reto", "Seraina", "Jonas", "Laura", "Matthias", "Chiara"),
        ("Brunner", "Baumann", "Frei", "Gerber", "Huber", "Schmid", "Steiner", "Zürcher"),
    ),
    "german": (
        ("Anna", "Felix", "Jana", "Maximilian", "Sophie", "Tobias", "Lea", "Jürgen"),
        ("Schneider", "Fischer", "Wagner", "Becker", "Hoffmann", "Schäfer", "Koch", "Richter"),
    ),
    "british": (
        ("Oliver", "Amelia", "Harry", "Isla", "George", "Emily", "Jack", "Charlotte"),
        ("Smith", "Jones", "Taylor", "Brown", "Evans", "Walker", "Wright", "Hughes"),
    ),
    "american": (
        ("Michael", "Jessica", "Tyler", "Ashley", "Brandon", "Megan", "Justin", "Lauren"),
        ("Johnson", "Miller", "Davis", "Garcia", "Martinez", "Anderson", "Thomas", "Moore"),
    ),
    "brazilian": (
        ("João", "Ana", "Gabriel", "Beatriz", "Lucas", "Mariana", "Rafael", "Juliana"),
        ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Rodrigues", "Almeida"),
    ),
    "singaporean": (
        ("Wei Ling", "Jun Jie", "Hui Min", "Kai Wen", "Mei Xin", "Zhi Hao", "Xin Yi", "Jia Hui"),
        ("Tan", "Lim", "Lee", "Ng", "Ong", "Wong", "Goh", "Chua"),
    ),
    "indian": (
        ("Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Kavya", "Arjun", "Meera"),
        ("Sharma", "Patel", "Iyer", "Reddy", "Nair", "Gupta", "Menon", "Rao"),
    ),
    "japanese": (
        ("Haruto", "Yui", "Sota", "Aoi", "Ren", "Hina", "Takumi", "Sakura"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"),
    ),
    "nigerian": (
        ("Chinedu", "Ngozi", "Emeka", "Amara", "Tunde", "Folake", "Ifeanyi", "Zainab"),
        ("Okafor", "Adeyemi", "Eze", "Balogun", "Nwosu", "Okonkwo", "Abiodun", "Bello"),
    ),
    "italian": (
        ("Giulia", "Marco", "Francesca", "Luca", "Chiara", "Matteo", "Sara", "Alessandro"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"),
    ),
    "french": (
        ("Camille", "Hugo", "Léa", "Louis", "Manon", "Théo", "Chloé", "Étienne"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Lefèvre"),
    ),
    "spanish": (
        ("Lucía", "Pablo", "Carmen", "Javier", "Elena", "Álvaro", "Marta", "Sergio"),
        ("García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"),
    ),
}


class SeedError(ValueError):
    """The database, the options or the Slack ids file do not allow seeding: nothing changed."""


class CompanySeed(SQLModel, table=True):
    """Which seed and size made the company in this database (one row, ``id`` 1)."""

    __tablename__ = "travel_company_seed"  # pyright: ignore[reportAssignmentType]

    id: int = Field(default=1, primary_key=True)
    seed: int
    employees: int


@dataclass(frozen=True)
class Person:
    """One employee as the seed plans them: the org-chart entry and the travel profile."""

    employee: Employee
    profile: EmployeeProfile


# -- planning (pure: the same arguments give the same company) --------------------------------


def level_sizes(employees: int) -> tuple[int, int, int]:
    """How many directors, managers and staff a company of ``employees`` (CEO included) has.

    Every span of control is within :data:`SPAN` when the size allows it (from 85 people);
    smaller companies get the spans nearest to it. Among equally good shapes, the one whose
    spans are nearest to six wins.
    """
    if not MIN_EMPLOYEES <= employees <= MAX_EMPLOYEES:
        raise SeedError(f"--employees must be between {MIN_EMPLOYEES} and {MAX_EMPLOYEES}")
    low, high = SPAN

    def outside(span: float) -> float:
        return max(0.0, low - span) + max(0.0, span - high)

    best: tuple[float, float, tuple[int, int, int]] | None = None
    for directors in range(1, len(DEPARTMENTS) + 1):
        for managers in range(directors, high * directors + 1):
            staff = employees - 1 - directors - managers
            if staff < 2 * managers or staff > high * managers:
                continue  # every manager leads at least two (bob leads alice and carol)
            spans = (directors, managers / directors, staff / managers)
            score = (sum(outside(s) for s in spans), sum(abs(s - 6) for s in spans))
            if best is None or score < best[:2]:
                best = (*score, (directors, managers, staff))
    if best is None:
        raise SeedError(f"no company shape holds {employees} employees")
    return best[2]


def _blocks(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` sizes differing by at most one, larger first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _handle(name: str) -> str:
    """``João Silva`` → ``joao.silva``: an ASCII id for the chat, the CLI and the inbox."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]+", ".", ascii_name.lower()).strip(".")


def plan_company(employees: int, seed: int) -> list[Person]:
    """The company of ``employees`` people for ``seed``, managers before their reports."""
    directors, managers, staff = level_sizes(employees)
    rng = random.Random(seed)
    taken = {e.id for e in DEMO_ORG.employees}
    demo_employees = {e.id: e for e in DEMO_ORG.employees}
    demo_profiles = {p.employee_id: p for p in DEMO_PROFILES}
    people: list[Person] = []

    def demo(employee_id: str) -> Person:
        spec = demo_employees[employee_id]
        employee = Employee(
            id=spec.id,
            name=spec.name,
            email=spec.email,
            slack_user_id=spec.slack_user_id,
            manager_id=spec.manager,
            level=spec.level,
        )
        found = demo_profiles[employee_id]
        person = Person(employee, EmployeeProfile.model_validate(found.model_dump()))
        people.append(person)
        return person

    def hire(level: str, manager: str, office: Office, department: tuple[str, str]) -> Person:
        culture = rng.choice(sorted(NAMES))
        first_names, family_names = NAMES[culture]
        name = f"{rng.choice(first_names)} {rng.choice(family_names)}"
        handle, n = _handle(name), 1
        while handle in taken:
            n += 1
            handle = f"{_handle(name)}{n}"
        taken.add(handle)
        employee = Employee(
            id=handle,
            name=name,
            email=f"{handle}@example.com",
            manager_id=manager,
            level=level,
        )
        profile = EmployeeProfile(
            employee_id=handle,
            home_airport=office.airport,
            office=office.city,
            department=department[0],
            cost_centre=f"{department[1]}-{office.airport}",
        )
        person = Person(employee, profile)
        people.append(person)
        return person

    def office_of(profile: EmployeeProfile) -> Office:
        return next(o for o in OFFICES if o.airport == profile.home_airport)

    def pick_office() -> Office:
        return rng.choices(OFFICES, weights=[o.weight for o in OFFICES])[0]

    ceo = demo("erin")
    heads = [demo("dana")] + [
        hire("director", ceo.employee.id, pick_office(), DEPARTMENTS[i])
        for i in range(1, directors)
    ]
    team_leads: list[Person] = []
    for index, (head, count) in enumerate(zip(heads, _blocks(managers, directors), strict=True)):
        department = DEPARTMENTS[index]
        leads = [demo("bob")] if index == 0 else []
        leads += [
            hire("manager", head.employee.id, pick_office(), department)
            for _ in range(count - len(leads))
        ]
        team_leads += leads
    for index, (lead, count) in enumerate(zip(team_leads, _blocks(staff, managers), strict=True)):
        team = [demo("alice"), demo("carol")] if index == 0 else []
        department = next(d for d in DEPARTMENTS if d[0] == lead.profile.department)
        for _ in range(count - len(team)):
            hire("staff", lead.employee.id, office_of(lead.profile), department)
    return people


# -- writing ----------------------------------------------------------------------------------


def read_slack_ids(path: Path) -> dict[str, str]:
    """A JSON object ``{"alice": "U0123ABCD", ...}``, checked before anything is written."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SeedError(f"cannot read Slack ids from {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SeedError(f"{path} must hold a JSON object: employee id -> Slack user id")
    ids: dict[str, str] = {}
    for key, value in data.items():  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(value, str) or not SLACK_USER_ID.match(value):
            raise SeedError(f"{key!r}: {value!r} is not a Slack user id (like U0123ABCD)")
        ids[str(key)] = value  # pyright: ignore[reportUnknownArgumentType]
    repeated = sorted(v for v, n in Counter(ids.values()).items() if n > 1)
    if repeated:
        raise SeedError(f"Slack user id {', '.join(repeated)} is given to several employees")
    return ids


def reset_company(engine: Engine) -> None:
    """Remove the org chart, the profiles and the seed record (bookings and approvals stay)."""
    create_company_tables(engine)
    SQLModel.metadata.create_all(engine, tables=[CompanySeed.__table__])  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownArgumentType]
    with Session(engine) as session:
        session.exec(delete(CompanySeed))
        session.exec(delete(EmployeeProfile))
        session.exec(delete(Leave))
        session.exec(update(Employee).values(manager_id=None))
        session.exec(delete(Employee))
        session.exec(delete(ApprovalLimit))
        session.commit()


def seed_company(
    engine: Engine,
    *,
    employees: int = 120,
    seed: int = 1,
    slack_ids: dict[str, str] | None = None,
    reset: bool = False,
) -> list[Person]:
    """Write the company for ``seed`` into ``engine``'s database, in one transaction.

    A database seeded with the same seed and size is left as it is (Slack ids are still
    applied); another seed or size, or an org chart the seed did not make, is refused with
    :class:`SeedError` unless ``reset``.
    """
    people = plan_company(employees, seed)
    unknown = sorted(set(slack_ids or {}) - {p.employee.id for p in people})
    if unknown:
        raise SeedError(f"the Slack ids file names people not in the company: {unknown}")
    if reset:
        reset_company(engine)
    create_company_tables(engine)
    SQLModel.metadata.create_all(engine, tables=[CompanySeed.__table__])  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownArgumentType]
    with Session(engine) as session:
        done = session.get(CompanySeed, 1)
        if done is not None and (done.seed, done.employees) != (seed, employees):
            raise SeedError(
                f"the database already holds the company of seed {done.seed} with "
                f"{done.employees} employees; pass --reset to replace it"
            )
        if done is None:
            demo_ids = {e.id for e in DEMO_ORG.employees}
            others = session.exec(
                select(Employee.id).where(col(Employee.id).not_in(demo_ids)).limit(3)
            ).all()
            if others:
                raise SeedError(
                    f"the database holds an org chart the seed did not make ({', '.join(others)}"
                    ", …); pass --reset to replace it"
                )
            for level, amount in DEMO_ORG.limits.items():
                session.merge(ApprovalLimit(level=level, max_amount=amount))
            for level in LEVELS:  # managers are written before their reports
                for person in people:
                    if person.employee.level == level:
                        session.merge(person.employee)
                session.flush()
            for person in people:
                session.merge(person.profile)
            session.add(CompanySeed(seed=seed, employees=employees))
        for employee_id, slack_user_id in sorted((slack_ids or {}).items()):
            # The file is the truth: a Slack id given to someone else before moves to this person.
            session.exec(
                update(Employee)
                .values(slack_user_id=None)
                .where(col(Employee.slack_user_id) == slack_user_id)
            )
            session.exec(
                update(Employee)
                .values(slack_user_id=slack_user_id)
                .where(col(Employee.id) == employee_id)
            )
        session.commit()
    record_policy(engine, policy_version(POLICY), POLICY)
    return people


def export_company(engine: Engine) -> str:
    """The company as canonical JSON: equal for equal companies, whatever the database."""
    with Session(engine) as session:
        employees = session.exec(select(Employee).order_by(col(Employee.id))).all()
        profiles = session.exec(select(EmployeeProfile).order_by(col(EmployeeProfile.employee_id)))
        limits = session.exec(select(ApprovalLimit).order_by(col(ApprovalLimit.level))).all()
        policies = session.exec(select(PolicyRecord).order_by(col(PolicyRecord.version))).all()
        return canonical_json(
            {
                "employees": [e.model_dump() for e in employees],
                "profiles": [p.model_dump() for p in profiles],
                "limits": {row.level: row.max_amount for row in limits},
                "policies": {p.version: json.loads(p.parameters) for p in policies},
            }
        )


# -- the command ------------------------------------------------------------------------------


def summary(engine: Engine, people: list[Person], seed: int) -> list[Table]:
    """Headcount per office and level, and who approves for a few employees."""
    offices = Table(title="Headcount")
    offices.add_column("office")
    for level in LEVELS:
        offices.add_column(level, justify="right")
    offices.add_column("total", justify="right")
    count = Counter((p.profile.office, p.employee.level) for p in people)
    for office in OFFICES:
        row = [count[office.city, level] for level in LEVELS]
        offices.add_row(f"{office.city} ({office.airport})", *map(str, row), str(sum(row)))
    totals = [sum(count[o.city, level] for o in OFFICES) for level in LEVELS]
    offices.add_row("all", *map(str, totals), str(sum(totals)), style="bold")

    org = OrgChart(engine)
    approvers = Table(title="Who approves an out-of-policy trip")
    for column in ("employee", "home", "a 2 000 EUR trip", "a 4 000 EUR trip"):
        approvers.add_column(column)
    staff = [p for p in people if p.employee.level == "staff" and p.employee.id != "alice"]
    alice = next(p for p in people if p.employee.id == "alice")
    sample = [alice, *random.Random(seed).sample(staff, min(4, len(staff)))]
    for person in sample:
        e = person.employee
        approvers.add_row(
            e.id,
            person.profile.home_airport,
            " → ".join(org.approver_chain(e.id, 2_000)) or "nobody",
            " → ".join(org.approver_chain(e.id, 4_000)) or "nobody",
        )
    return [offices, approvers]


def main(
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="DATABASE_URL",
            help="The travel agent's database (default: agentflow.db in the data folder).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
    employees: Annotated[
        int, typer.Option(help=f"Headcount, {MIN_EMPLOYEES} to {MAX_EMPLOYEES}.")
    ] = 120,
    seed: Annotated[int, typer.Option(help="The same seed gives the same company.")] = 1,
    slack_ids: Annotated[
        Path | None, typer.Option(help='JSON object {"alice": "U0123ABCD", ...}.')
    ] = None,
    reset: Annotated[
        bool, typer.Option(help="Replace the org chart and profiles already in the database.")
    ] = False,
) -> None:
    """Create a believable company in the travel agent's database."""
    console = Console()
    try:
        ids = read_slack_ids(slack_ids) if slack_ids is not None else None
        use_data_dir(data_dir)
        settings = ApprovalSettings.from_env()
        if database_url is not None:
            settings = settings.model_copy(update={"database_url": database_url})
        database_url = settings.database_url
        engine = settings.engine()
        people = seed_company(engine, employees=employees, seed=seed, slack_ids=ids, reset=reset)
    except SeedError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    except (ArgumentError, OperationalError) as exc:
        console.print(f"[red]error:[/] cannot use the database {database_url!r}: {exc}")
        raise typer.Exit(2) from exc
    for table in summary(engine, people, seed):
        console.print(table)
    console.print(f"{len(people)} employees, seed {seed}, policy {policy_version(POLICY)}")


app = typer.Typer(add_completion=False)
app.command()(main)

if __name__ == "__main__":
    app()
