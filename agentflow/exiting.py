"""How a process that held a Temporal client ends: without the interpreter's finalization.

Used by the ``agentflow`` command (``agentflow.cli.entry``) and by any other process that runs
a Temporal client or worker to its end (the durable bench's workers). The Temporal client keeps
Rust (tokio) threads that outlive the code that used them. When CPython finalizes with them
still running, a process can crash after its work is done, with SIGSEGV or a ``Fatal Python
error: PyGILState_Release`` abort (temporalio/sdk-python#300): ``agentflow doctor`` printed its
answer and then exited -11 on a loaded machine, and bench workers aborted after a clean
shutdown. So once the process's work has returned, `run_and_exit` (or `end_process`) does what
finalization would do first, and only that: it waits for the non-daemon threads, runs the exit
handlers (the audit trail's and the exporters' flushes among them), flushes the standard
streams, and ends the process with the work's status.

Skipping finalization also skips its garbage collections of the whole heap, which took seconds
on a loaded machine for a worker holding one copy of the workflow modules per sandboxed
workflow (before workers passed them through).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

__all__ = ["end_process", "run_and_exit"]


def run_and_exit(work: Callable[[], object]) -> NoReturn:
    """Call ``work``, then end the process with its status, skipping the interpreter's finalization.

    The status follows Python's own: 0 when ``work`` returns, ``sys.exit``'s rule for a
    ``SystemExit``, 1 for any other exception (reported by ``sys.excepthook``, as an uncaught
    one is). ``KeyboardInterrupt`` propagates unchanged: Ctrl-C ends the process as Python does.
    """
    try:
        work()
        code = 0
    except SystemExit as exc:
        code = _status(exc.code)
    except Exception as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)  # as the interpreter reports it
        code = 1
    end_process(code)


def end_process(code: int = 0) -> NoReturn:
    """End the process with ``code`` as finalization would, up to where it could crash.

    Waits for the non-daemon threads, runs the exit handlers, flushes the standard streams, and
    skips the rest. For a caller that has its status already; `run_and_exit` is the usual way.
    """
    # Private hooks, on purpose: they are the steps Py_FinalizeEx takes before tearing down the
    # interpreter, the part that races the client's threads and is skipped here.
    threading._shutdown()  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    atexit._run_exitfuncs()  # pyright: ignore[reportPrivateUsage]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _status(code: object) -> int:
    """``sys.exit``'s rule: ``None`` is 0, an int is itself, anything else is printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
