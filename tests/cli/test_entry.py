"""The ``agentflow`` process ends with its command's status, after its exit handlers.

It skips the interpreter's finalization, where the Temporal client's threads could crash a
process that had already answered; what finalization does before that must still happen.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
marker = Path(sys.argv[1])
def late_writer():
    time.sleep(0.2)
    marker.with_suffix(".thread").write_text("joined")
threading.Thread(target=late_writer).start()
atexit.register(lambda: marker.write_text("flushed"))
sys.argv = ["agentflow", *sys.argv[2:]]
from agentflow.cli.entry import main
main()
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "marker"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_failing_command_keeps_its_status_and_still_runs_the_exit_handlers(
    tmp_path: Path,
) -> None:
    result = run(tmp_path, "worker", "--agent", "nope.module:agent")
    assert result.returncode == 2, result.stderr
    assert "no module 'nope.module'" in result.stderr
    assert (tmp_path / "marker").read_text() == "flushed"
    assert (tmp_path / "marker.thread").read_text() == "joined"


def test_a_command_that_succeeds_ends_with_zero_and_its_output_flushed(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert (tmp_path / "marker").read_text() == "flushed"
