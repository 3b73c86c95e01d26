"""How a model adapter retries, and how it tells the driver that it is waiting.

A model adapter is the one place a failed model call is retried (see
`agentflow.models.anthropic` for why the SDK's own retries are switched off). This module
holds what that needs and nothing SDK-specific, so a driver can import it without the SDK:

* `RetryPolicy`: how many retries, how long to wait between them.
* `retrying`: the retry loop every adapter runs its attempts in, and
  `retryable_status`, which statuses it retries.
* `retry_listener` / `report_retry`: a context-local hook through which the adapter
  reports each wait ("retrying in 4 s") without the [`Model`][agentflow.Model]
  protocol knowing about it. A driver wraps its model call in ``with retry_listener(emit):``;
  with nobody listening, `report_retry` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from agentflow.events import ModelRetrying
from agentflow.exceptions import ModelError

__all__ = [
    "Failure",
    "RetryListener",
    "RetryPolicy",
    "parse_retry_after",
    "report_retry",
    "retry_listener",
    "retryable_status",
    "retrying",
]

T = TypeVar("T")

log = logging.getLogger(__name__)

RetryListener = Callable[[ModelRetrying], None]
"""Receives one `ModelRetrying` per wait; it must not block."""

_listener: ContextVar[RetryListener | None] = ContextVar("agentflow_retry_listener", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How a model adapter retries a failure that may go away (overload, rate limit, network).

    The wait before retry ``n`` (1-based) is the server's ``retry-after`` when it sends one,
    capped at ``max_retry_after``; otherwise ``min(base_delay * 2 ** (n - 1), max_delay)``
    less up to a quarter of it at random, so that clients that failed together do not all
    come back together.

    Attributes:
        max_retries: Retries after the first attempt; ``0`` makes one attempt only.
        max_retry_after: The longest wait, in seconds, that a server's ``retry-after`` can ask
            for. A server asking for more gets this much: a step that stalls for minutes
            without a word is worse than one more refusal.
        base_delay: The first backoff wait, in seconds, when the server names none.
        max_delay: The longest backoff wait, in seconds, when the server names none.
    """

    max_retries: int = 4
    max_retry_after: float = 30.0
    base_delay: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {self.max_retries}")
        if min(self.max_retry_after, self.base_delay, self.max_delay) < 0:
            raise ValueError("retry delays must be 0 or more seconds")

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based).

        Args:
            retry: Which retry this is: 1 for the first.
            retry_after: What the server asked for (see `parse_retry_after`), if anything.
        """
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.max_retry_after)
        backoff = min(self.base_delay * 2.0 ** min(retry - 1, 32), self.max_delay)
        return backoff * (1 - 0.25 * random.random())


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The wait, in seconds, that a response's headers ask for, or ``None``.

    Reads ``retry-after-ms`` (Anthropic's, in milliseconds) first, then ``retry-after`` as
    seconds or as an HTTP date. ``headers`` must look names up case-insensitively (as
    ``httpx.Headers`` does) or have them lower-cased.
    """
    with contextlib.suppress(TypeError, ValueError):
        return float(headers.get("retry-after-ms", "")) / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return float(value)
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return float(email.utils.mktime_tz(parsed)) - (time.time() if now is None else now)


@contextlib.contextmanager
def retry_listener(listener: RetryListener) -> Generator[None]:
    """Send the retries reported in this context (task, thread) to ``listener``.

    The hook is a context variable, so concurrent runs each hear their own model's retries;
    an inner ``retry_listener`` replaces an outer one until it exits::

        with retry_listener(emit):
            response = await model.request(request)
    """
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def report_retry(attempt: int, delay_s: float, error: str) -> None:
    """Tell the current `retry_listener`, if any, that a retry is about to wait.

    Args:
        attempt: The attempt that failed: 1 for the first request, so also the number of the
            retry about to happen.
        delay_s: Seconds the adapter is about to wait before retrying.
        error: One line saying what failed, as the final error would say it.
    """
    listener = _listener.get()
    if listener is None:
        return
    try:
        listener(ModelRetrying(attempt=attempt, delay_s=delay_s, error=error))
    except Exception:
        # A broken observer must not turn a retry into a failure.
        log.exception("the retry listener failed")


def retryable_status(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an HTTP error status may pass.

    408, 409, 429 and 5xx do, unless the response's ``x-should-retry: true``/``false`` header
    says otherwise (both Anthropic and OpenAI send it).
    """
    should_retry = headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        return should_retry == "true"
    return status in (408, 409, 429) or status >= 500


@dataclass(frozen=True, slots=True)
class Failure:
    """What an adapter makes of an SDK exception: the error to raise, and whether to retry."""

    error: ModelError
    retryable: bool
    retry_after: float | None = None


async def retrying(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[T]],
    classify: Callable[[Exception], Failure | None],
) -> T:
    """Run ``attempt`` until it succeeds, or fails in a way ``policy`` does not retry.

    ``classify`` turns an exception of the SDK into a `Failure`, or ``None`` for one that
    is not a model failure (it propagates as is). The final error is raised from the SDK's.
    Each wait is reported through `report_retry` first.
    """
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except Exception as err:
            failure = classify(err)
            if failure is None:
                raise
            if tries > policy.max_retries or not failure.retryable:
                raise failure.error from err
            delay = policy.delay(tries, failure.retry_after)
            report_retry(tries, delay, str(failure.error))
            await asyncio.sleep(delay)
