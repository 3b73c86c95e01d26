"""``agentflow init``: the project it writes passes its own tests offline; nothing overwritten."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "agentflow.cli"]


def env() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ANTHROPIC_API_KEY")}
    return environ | {"COLUMNS": "200"}


def test_the_scaffold_passes_its_own_tests(tmp_path: Path) -> None:
    made = subprocess.run(
        [*CLI, "init", "expenses"], cwd=tmp_path, capture_output=True, text=True, env=env()
    )
    assert made.returncode == 0, made.stderr
    project = tmp_path / "expenses"
    assert sorted(p.name for p in project.iterdir()) == ["README.md", "agent.py", "test_agent.py"]
    readme = (project / "README.md").read_text()
    for command in [
        "agentflow dev --agent agent:agent",
        "agentflow chat --agent agent:agent --as alice",
        "agentflow approvals approve",
        "/approvals?as=bob",
    ]:
        assert command in readme, command
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout


def test_an_occupied_folder_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text("mine = 1\n")
    refused = subprocess.run(
        [*CLI, "init"], cwd=tmp_path, capture_output=True, text=True, env=env()
    )
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line == "error: . already has agent.py: nothing written (choose an empty folder)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.py"]
    assert (tmp_path / "agent.py").read_text() == "mine = 1\n"
