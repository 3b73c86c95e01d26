"""The example docs/audit.md holds runs and prints what the page says it records."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from agentflow.audit.store import TABLE, create_store_engine
from tests.audit.support import converse
from tests.docs.pages import write_page_files

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_example_runs(tmp_path: Path) -> None:
    write_page_files("audit.md", tmp_path)
    env = {**os.environ, "COLUMNS": "160"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    env.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
    result = subprocess.run(
        [sys.executable, "audit_trail.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for line in (
        "Refund done.",
        "the audit trail is intact",
        'user "Refund A-17, paid with [CARD ****1111]" → awaiting_approval',
        "? rule small_or_approved: needs_approval — refund of 240.0 EUR is above 100 EUR",
        "approval decided → approved by lee",
        "precondition → ✓ allow (approved by lee)",
    ):
        assert line in result.stdout, result.stdout
    assert "4111 1111" not in result.stdout


def nightly_commands() -> tuple[list[str], str]:
    """The console lines and the cron entry of docs/deployment.md's nightly audit check."""
    page = (ROOT / "docs" / "deployment.md").read_text()
    section = page.split("## Backups and audit checks", 1)[1].split("\n## ", 1)[0]
    console = re.search(r"```console\n(.*?)```", section, re.S)
    cron = re.search(r"```text\n(.*?)```", section, re.S)
    assert console is not None and cron is not None
    lines = [line.removeprefix("$ ") for line in console[1].splitlines()]
    entry = cron[1].strip().split(None, 5)[5]  # the command after the five time fields
    return lines, entry


@pytest.mark.skipif(shutil.which("jq") is None, reason="the documented check uses jq")
async def test_the_nightly_check_in_the_deployment_docs_passes_while_the_trail_grows(
    tmp_path: Path,
) -> None:
    """Run as documented, day after day: it passes after honest appends, alerts on a cut."""
    (first, later), entry = nightly_commands()
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    folder = tmp_path / "anchor"
    folder.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }

    def shell(command: str) -> subprocess.CompletedProcess[str]:
        script = f"alert-oncall() {{ echo ALERT; return 3; }}\n{command}"
        return subprocess.run(
            ["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True
        )

    await converse(url)
    assert shell(first).returncode == 0
    heads = [(folder / "head").read_text().strip()]
    for _ in range(2):  # two more days of conversations, one check each
        await converse(url)
        for command in (later, entry.replace("/var/lib/audit", str(folder))):
            result = shell(command)
            assert result.returncode == 0 and "ALERT" not in result.stdout, result.stderr
        heads.append((folder / "head").read_text().strip())
    assert len(set(heads)) == 3
    engine = create_store_engine(url)
    with engine.begin() as connection:  # someone cuts the last conversation off
        connection.execute(text(f"DROP TRIGGER {TABLE}_no_delete"))
        connection.execute(text(f"DELETE FROM {TABLE} WHERE seq > 24"))
    engine.dispose()
    result = shell(entry.replace("/var/lib/audit", str(folder)))
    assert "ALERT" in result.stdout
    assert (folder / "head").read_text().strip() == heads[-1]  # the anchor is kept
