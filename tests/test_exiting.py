"""A process ended by `agentflow.exiting` keeps Python's status and what finalization does first.

Its threads are waited for and its exit handlers run; only the interpreter's teardown, where the
Temporal client's threads could crash it, is skipped (the ``agentflow`` command's own cases are
in tests/cli/test_entry.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from agentflow.exiting import run_and_exit
marker = Path(sys.argv[1])
class Finalized:
    def __del__(self):
        marker.with_suffix(".finalized").write_text("finalized")
kept = Finalized()  # a module global: only the interpreter's teardown would delete it
def late_writer():
    time.sleep(0.2)
    marker.with_suffix(".thread").write_text("joined")
def work():
    threading.Thread(target=late_writer).start()
    atexit.register(lambda: marker.write_text("flushed"))
    raise RuntimeError("the work failed")
run_and_exit(work)
"""


def test_an_exception_ends_the_process_with_1_its_traceback_and_the_exit_handlers(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(marker)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "RuntimeError: the work failed" in result.stderr
    assert marker.read_text() == "flushed"
    assert marker.with_suffix(".thread").read_text() == "joined"
    assert not marker.with_suffix(".finalized").exists()  # the teardown was skipped
