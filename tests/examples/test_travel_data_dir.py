"""The travel example keeps its database in the data folder, like everything agentflow keeps.

``agentflow dev --data-dir FOLDER --agent examples.travel.agent:travel_agent`` (and
``AGENTFLOW_DATA_DIR``) moves the bookings, the org chart and the approval ledger with Temporal's
state and the audit trail; the seed command writes the company where the agent reads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from agentflow.approvals.tables import Employee
from agentflow.datadir import DATA_DIR_ENV
from examples.travel.agent import travel_agent
from examples.travel.seed import app


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, no DATABASE_URL, and a data folder somewhere else."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    folder = tmp_path / "state" / "af"
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    return folder


def test_the_travel_agent_opens_its_database_in_the_data_folder(
    tmp_path: Path, elsewhere: Path
) -> None:
    _, deps = travel_agent()
    engine = deps().engine
    assert engine.url.database == str(elsewhere / "agentflow.db")
    assert (elsewhere / "agentflow.db").is_file()
    assert not (tmp_path / ".agentflow").exists(), "the default folder was used anyway"


def test_the_seed_writes_the_company_where_the_agent_reads_it(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_DIR_ENV)
    result = CliRunner().invoke(app, ["--data-dir", str(elsewhere), "--employees", "30"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / ".agentflow").exists(), "the default folder was used anyway"
    monkeypatch.setenv(DATA_DIR_ENV, str(elsewhere))
    _, deps = travel_agent()
    with Session(deps().engine) as session:
        assert len(session.exec(select(Employee)).all()) == 30
