"""What a workflow run costs the worker's sandbox, in a checkout and in an installed wheel.

temporalio imports a workflow's module again for every run. These tests replay recorded
histories through the worker's plugin in a fresh interpreter (``sandbox_probe``), on a copy of
the sources with no bytecode written (``PYTHONDONTWRITEBYTECODE=1``, as in many container
images), and read Python's audit events: which of our files each run executes, and how often
each was compiled. After the first run the probe deletes the copied workflow sources, as a
deploy that reinstalls the package does for a moment under a running worker: every later run
still replays, on the code the worker loaded.
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


def test_a_run_executes_its_workflow_module_and_no_other_module_of_ours(replays: Any) -> None:
    layout, runs, _ = replays
    package = _package(layout)
    # Above the workflows: in a wheel, the sandbox runs agentflow/__init__ again (its imports
    # pass through).
    parents = [f"{package}/__init__.py"] + (["agentflow/__init__.py"] if layout == "wheel" else [])
    expected = {
        "conv": sorted([*parents, f"{package}/agent.py"]),
        "approval": sorted([*parents, f"{package}/approval.py"]),
    }
    for run in runs[1:]:  # the first run also loads what the worker imports late
        kind = "approval" if "/approval/" in run["workflow"] else "conv"
        ours = [f for f in run["executed"] if f.startswith(("agentflow/", "workflows/"))]
        assert ours == expected[kind], run["workflow"]


def test_a_conversation_does_not_load_the_approval_workflow(replays: Any) -> None:
    layout, runs, _ = replays
    conversations = [r for r in runs if "/approval/" not in r["workflow"]]
    assert len(conversations) == RUNS
    for run in conversations:
        assert f"{_package(layout)}/approval.py" not in run["executed"]


def test_workflow_sources_are_compiled_once_per_process(replays: Any) -> None:
    layout, runs, _ = replays
    package = _package(layout)
    workflow_files = ("__init__.py", "agent.py", "approval.py")
    first_conversation, last = runs[0]["compiled"], runs[-1]["compiled"]
    for name in workflow_files:
        path = f"{package}/{name}"
        if name != "approval.py":  # a conversation does not load it
            assert first_conversation.get(path, 0) > 0, path
        # Every later run, of either workflow, reused what was compiled for the first.
        first = next(r["compiled"][path] for r in runs if path in r["compiled"])
        assert last[path] == first, path


def test_workflow_files_removed_under_a_running_worker_stop_no_run(replays: Any) -> None:
    _, runs, workflows = replays
    assert list(workflows.glob("*.py")) == []  # gone after the first run
    assert len(runs) == 2 * RUNS  # and every run replayed (the probe fails otherwise)
