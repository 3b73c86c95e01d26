"""``make demo DEMO_SCRIPT=1`` prints commands to read its trail; they work as printed.

The demo runs as a user runs it (its own folder, no ``DATABASE_URL``), then each printed
command runs in that folder from a shell that knows nothing of the demo's own settings.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENTFLOW = Path(sys.executable).with_name("agentflow")


def test_the_commands_the_demo_prints_find_its_trail(tmp_path: Path) -> None:
    shell = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    shell.pop("ANTHROPIC_API_KEY", None)  # the offline planner
    demo = subprocess.run(
        [sys.executable, "-m", "examples.travel.demo"],
        cwd=tmp_path,
        env=shell | {"DEMO_SCRIPT": "1", "COLUMNS": "200", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    printed = re.findall(r"^(?:In a terminal|Check the trail): (agentflow .+)$", demo.stdout, re.M)
    assert len(printed) == 2, demo.stdout
    (conversation,) = set(re.findall(r"Conversation (conv-[0-9a-f]+)", demo.stdout))
    assert printed == [f"agentflow trace {conversation}", "agentflow audit verify"]
    outputs: list[str] = []
    for command in printed:
        argv = [str(AGENTFLOW), *shlex.split(command)[1:]]
        run = subprocess.run(
            argv, cwd=tmp_path, env=shell | {"COLUMNS": "200"}, capture_output=True, text=True
        )
        assert run.returncode == 0, f"{command}: {run.stdout}{run.stderr}"
        outputs.append(run.stdout)
    trace, verified = outputs
    assert f"conversation {conversation}" in trace
    assert "tool book_flight" in trace and "approval decided → approved by bob" in trace
    assert "the audit trail is intact" in verified
