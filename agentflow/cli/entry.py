"""The ``agentflow`` process: run the command, then end without the interpreter's finalization.

The Temporal client keeps Rust (tokio) threads that outlive the command. When CPython finalizes
with them still running, a short-lived process can crash after its work is done, with SIGSEGV
or a ``PyGILState_Release`` abort (temporalio/sdk-python#300): ``agentflow doctor`` printed its
answer and then exited -11 on a loaded machine. So once the command has returned, this does
what finalization would do first, and only that: it waits for the non-daemon threads, runs the
exit handlers (the audit trail's and the exporters' flushes among them), flushes the standard
streams, and ends the process with the command's status.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading

from agentflow.cli.main import app

__all__ = ["main"]


def main() -> None:
    """Run the ``agentflow`` command named by ``sys.argv`` and end the process with its status."""
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = _status(exc.code)
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
