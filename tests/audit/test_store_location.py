"""Every command, worker and script finds the audit store the same way.

Workers, the demo, ``agentflow chat`` and ``agentflow approvals`` write the trail where
``ApprovalSettings.audit_database_url`` says; ``configure_tracing()``, ``agentflow trace`` and
``agentflow audit verify`` follow :func:`~agentflow.audit.setup.audit_database_url`. The two
must agree for every environment, or a conversation is written to one store and looked for in
another.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentflow.approvals.settings import ApprovalSettings
from agentflow.audit.setup import DEFAULT_DATABASE_URL, audit_database_url, configure_tracing
from agentflow.cli.main import app
from tests.audit.support import converse

ENVIRONMENTS = [
    {},
    {"DATABASE_URL": ""},
    {"DATABASE_URL": "sqlite:///.agentflow/agentflow.db"},  # the application's default, spelt out
    {"DATABASE_URL": "sqlite:///company.db"},
    {"DATABASE_URL": "postgresql+psycopg://agentflow@db.internal/agentflow"},
]


@pytest.mark.parametrize("environ", ENVIRONMENTS)
def test_the_rule_is_the_one_the_workers_follow(environ: dict[str, str]) -> None:
    assert audit_database_url(environ=environ) == (
        ApprovalSettings.from_env(environ).audit_database_url
    )


def test_an_explicit_url_wins() -> None:
    environ = {"DATABASE_URL": "sqlite:///company.db"}
    assert audit_database_url("sqlite:///elsewhere.db", environ) == "sqlite:///elsewhere.db"
    assert audit_database_url(environ={}) == DEFAULT_DATABASE_URL


async def test_what_a_worker_records_the_commands_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DATABASE_URL names the application's default file, as examples/travel/worker.py shows."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///.agentflow/agentflow.db")
    conversation = await converse(ApprovalSettings.from_env().audit_database_url)
    traced = CliRunner().invoke(app, ["trace", conversation], env={"COLUMNS": "200"})
    assert traced.exit_code == 0, traced.output
    assert f"run {conversation}" in traced.output and "tool book_flight" in traced.output
    verified = CliRunner().invoke(app, ["audit", "verify"], env={"COLUMNS": "200"})
    assert verified.exit_code == 0 and "intact: 14 records" in verified.output
    tracing = configure_tracing(otlp=False)
    assert tracing.store is not None
    assert tracing.store.engine.url.database == ".agentflow/audit.db"
    tracing.shutdown()
