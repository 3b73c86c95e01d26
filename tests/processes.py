"""Reading a CLI process's stderr until it says something, within a deadline that holds.

A loop over ``process.stderr`` that checks a deadline between lines never checks it while the
process says nothing: a command hung before its banner hung the test for ever. The lines are
read in a thread, so the deadline holds; past it the process is killed and the test fails
with what it said. The thread has ended when this returns, so ``communicate()`` may drain the
rest.
"""

from __future__ import annotations

import signal
import subprocess
import threading

__all__ = ["read_until", "stop"]


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 60) -> str:
    """What ``process`` wrote on stderr up to and including the first line holding ``marker``.

    Raises:
        AssertionError: the process ended, or ``timeout`` seconds passed, before ``marker``.
    """
    stderr = process.stderr
    assert stderr is not None
    seen: list[str] = []

    def pump() -> None:
        for line in stderr:
            seen.append(line)
            if marker in line:
                return

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        process.kill()  # ends the stream, so the reader ends too
        reader.join()
        raise AssertionError(f"no {marker!r} within {timeout} s:\n{''.join(seen)}")
    if not seen or marker not in seen[-1]:
        raise AssertionError(f"process ended before {marker!r}:\n{''.join(seen)}")
    return "".join(seen)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGINT, timeout: float = 90) -> str:
    """Send ``sig`` (Ctrl-C by default) and return the rest of stderr once the process ended.

    ``communicate``, not ``wait``: it drains the pipes, which a process that writes more than a
    pipe holds would otherwise block on for ever. A process still running after ``timeout``
    seconds is killed, and the test fails with what it said. (What `read_until` had already
    buffered past its marker, written in the same instant, is not in it.)

    Raises:
        AssertionError: the process did not end within ``timeout`` seconds.
    """
    if process.poll() is None:
        process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"still running {timeout} s after signal {sig}:\n{stderr}") from None
    return stderr or ""
