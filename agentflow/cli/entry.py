"""The ``agentflow`` process: run the command, then end without the interpreter's finalization.

The Temporal client's threads can crash a process during finalization after its work is done
(``agentflow doctor`` printed its answer and then exited -11 on a loaded machine); how the
process ends instead is `agentflow.exiting.run_and_exit`'s rule.
"""

from __future__ import annotations

from agentflow.cli.main import app
from agentflow.exiting import run_and_exit

__all__ = ["main"]


def main() -> None:
    """Run the ``agentflow`` command named by ``sys.argv`` and end the process with its status."""
    run_and_exit(app)
