"""The tests' reading of a CLI process's stderr fails within its deadline, never hangs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.processes import read_until, stop

SILENT = "import sys; sys.stdin.read()"  # says nothing until its stdin closes
SAYS = "import sys; print('starting', file=sys.stderr, flush=True); sys.stdin.read()"


def _run(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_silent_process_fails_at_the_deadline_and_is_killed() -> None:
    process = _run(SILENT)
    with pytest.raises(AssertionError, match=r"no 'ready' within 0\.5 s"):
        read_until(process, "ready", timeout=0.5)
    assert process.wait() != 0  # killed, not left running


def test_what_it_said_comes_back_and_the_rest_can_be_drained() -> None:
    process = _run(SAYS)
    assert read_until(process, "starting") == "starting\n"
    _, rest = process.communicate("")
    assert (process.returncode, rest) == (0, "")


def test_a_process_that_ends_first_is_said_to_have_ended() -> None:
    process = _run("import sys; print('bye', file=sys.stderr)")
    with pytest.raises(AssertionError, match="process ended before 'ready':\nbye"):
        read_until(process, "ready")
    process.wait()


def test_stop_drains_what_is_left_and_kills_a_process_that_will_not_stop() -> None:
    stubborn = _run(
        "import signal, sys, threading; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "print('ready', file=sys.stderr, flush=True); print('more', file=sys.stderr, flush=True); "
        "threading.Event().wait()"
    )
    read_until(stubborn, "ready")
    with pytest.raises(AssertionError, match=r"still running 0\.5 s after signal 2"):
        stop(stubborn, timeout=0.5)
    assert stubborn.returncode == -9  # killed, not left running

    polite = _run(SAYS)
    read_until(polite, "starting")
    said = stop(polite)
    assert polite.returncode != 0 and stop(polite) == said  # a second stop is harmless
