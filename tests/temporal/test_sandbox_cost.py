"""What a workflow run costs the worker's sandbox, in a checkout and in an installed wheel.

temporalio imports a workflow's module again for every run, unless it is passed through, as
agentflow's are. These tests replay recorded histories through the worker's plugin in a fresh
interpreter (``sandbox_probe``), on a copy of the sources with no bytecode written
(``PYTHONDONTWRITEBYTECODE=1``, as in many container images), and read Python's audit events:
which of our files each run executes, and how often each was compiled. After the first run the
probe deletes the copied workflow sources, as a deploy that reinstalls the package does for a
moment under a running worker: every later run still replays, on the code the worker loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = 3


def _copy(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))


def probe(tmp_path: Path, layout: str) -> tuple[list[dict[str, Any]], Path]:
    """Replays in a copy of the sources laid out as a checkout or as the installed wheel."""
    _copy(ROOT / "agentflow", tmp_path / "agentflow")
    workflows = tmp_path / ("workflows" if layout == "checkout" else "agentflow/workflows")
    _copy(ROOT / "workflows", workflows)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.temporal.sandbox_probe", str(RUNS), "--remove"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), workflows


def _package(layout: str) -> str:
    return "workflows" if layout == "checkout" else "agentflow/workflows"


@pytest.fixture(scope="module", params=["checkout", "wheel"])
def replays(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    layout: str = request.param
    runs, workflows = probe(tmp_path_factory.mktemp(layout), layout)
    return layout, runs, workflows


def test_a_run_executes_no_module_of_ours(replays: Any) -> None:
    """The worker's modules serve every run, the workflows' too (see agentflow.temporal.sandbox):
    neither ``agentflow/__init__`` (an installed wheel's workflows are under it) nor a workflow
    module runs again."""
    _, runs, _ = replays
    assert len(runs) == 2 * RUNS
    for run in runs[1:]:  # the first run also loads what the worker imports late
        ours = [f for f in run["executed"] if f.startswith(("agentflow/", "workflows/"))]
        assert ours == [], run["workflow"]


def test_no_source_of_ours_is_compiled_after_the_first_run(replays: Any) -> None:
    layout, runs, _ = replays
    first, last = (
        {f: n for f, n in run["compiled"].items() if f.startswith(("agentflow/", "workflows/"))}
        for run in (runs[0], runs[-1])
    )
    assert f"{_package(layout)}/agent.py" in first
    assert last == first


def test_workflow_files_removed_under_a_running_worker_stop_no_run(replays: Any) -> None:
    _, runs, workflows = replays
    assert list(workflows.glob("*.py")) == []  # gone after the first run
    assert len(runs) == 2 * RUNS  # and every run replayed (the probe fails otherwise)
