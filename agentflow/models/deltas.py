"""How a model adapter hands text to a streaming driver while the answer is still coming.

The [`Model`][agentflow.Model] protocol returns one whole response, which is what the
loop needs. A driver that shows tokens as they come ([`agentflow.Agent.run_stream`][]) wraps
the call in ``with delta_listener(emit):``; an adapter that sees `deltas_wanted` streams
the request and calls `report_delta` with each piece of text, then still returns the whole
response. With nobody listening, adapters make plain requests and nothing is reported.

A failed attempt's pieces may already have been reported: the adapter's retry is announced by a
`ModelRetrying` event, after which the text starts again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Generator
from contextvars import ContextVar

__all__ = ["DeltaListener", "delta_listener", "deltas_wanted", "report_delta"]

log = logging.getLogger(__name__)

DeltaListener = Callable[[str], None]
"""Receives each piece of the answer's text; it must not block."""

_listener: ContextVar[DeltaListener | None] = ContextVar("agentflow_delta_listener", default=None)


@contextlib.contextmanager
def delta_listener(listener: DeltaListener) -> Generator[None]:
    """Send the text pieces adapters report in this context (task, thread) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def deltas_wanted() -> bool:
    """Whether someone listens for text pieces: an adapter then streams its request."""
    return _listener.get() is not None


def report_delta(text: str) -> None:
    """Tell the current `delta_listener`, if any, about a piece of the answer's text."""
    listener = _listener.get()
    if listener is None or not text:
        return
    try:
        listener(text)
    except Exception:
        # A broken observer must not turn an answer into a failure.
        log.exception("the delta listener failed")
