"""How the long-running commands (``dev``, ``worker``) stop: Ctrl-C and SIGTERM alike.

Ctrl-C reaches ``asyncio.run`` as a cancellation of the command's coroutine, so its ``finally``
blocks stop the workers, the embedded server and release the data folder's lock. A service
manager (systemd, Docker, Kubernetes) sends SIGTERM instead, which Python
would otherwise answer by dying at once, leaving the server running and its record behind; here
it cancels the coroutine the same way.

After a clean stop the process ends through `agentflow.exiting.run_and_exit` (the ``agentflow``
entry point), which skips the interpreter's finalization and with it the garbage collections of
the whole heap that kept a stopped worker alive for seconds on a loaded machine (when the
worker held one copy of the workflow modules per sandboxed workflow). So nothing here freezes the
heap: that would only have kept the heap of a process that goes on (a test calling the command
in-process) from ever being collected.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

__all__ = ["run_until_stopped"]


def run_until_stopped(main: Coroutine[Any, Any, None]) -> bool:
    """Run ``main`` until it ends, Ctrl-C or SIGTERM; ``True`` if it was stopped by either."""

    async def guarded() -> bool:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        terminated = False

        def terminate() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            await main
        except asyncio.CancelledError:
            if not terminated:
                raise  # Ctrl-C: asyncio.run turns it into KeyboardInterrupt
            return True
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
        return False

    try:
        stopped = asyncio.run(guarded())
    except KeyboardInterrupt:
        stopped = True
    return stopped
