"""The retry policy and the retry hook, without a model."""

from __future__ import annotations

import asyncio
import email.utils
import logging

import pytest

from agentflow.events import ModelRetrying
from agentflow.models.retries import (
    RetryPolicy,
    parse_retry_after,
    report_retry,
    retry_listener,
)


def test_backoff_doubles_up_to_max_delay_with_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    for retry, full in [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (40, 8.0)]:
        delays = {policy.delay(retry) for _ in range(50)}
        assert all(0.75 * full <= delay <= full for delay in delays)
        assert len(delays) > 1  # jittered, so clients that failed together spread out


def test_retry_after_is_obeyed_up_to_the_cap() -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    assert policy.delay(1, retry_after=2.5) == 2.5
    assert policy.delay(1, retry_after=120.0) == 30.0
    # A wait of nothing (or in the past) falls back to the backoff.
    assert 0.375 <= policy.delay(1, retry_after=0.0) <= 0.5
    assert 0.375 <= policy.delay(1, retry_after=-3.0) <= 0.5


def test_a_policy_refuses_negative_numbers() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="delays"):
        RetryPolicy(max_retry_after=-1)


def test_parse_retry_after() -> None:
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    # The millisecond header is the more precise one and wins.
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "3"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == 90.0
    assert parse_retry_after({"retry-after": "whenever"}) is None


def test_report_retry_without_a_listener_does_nothing() -> None:
    report_retry(1, 0.5, "model API returned HTTP 529: Overloaded")


def test_listeners_nest_and_are_restored() -> None:
    outer: list[ModelRetrying] = []
    inner: list[ModelRetrying] = []
    with retry_listener(outer.append):
        report_retry(1, 0.5, "first")
        with retry_listener(inner.append):
            report_retry(2, 1.0, "second")
        report_retry(3, 2.0, "third")
    report_retry(4, 4.0, "unheard")
    assert [r.error for r in outer] == ["first", "third"]
    assert inner == [ModelRetrying(attempt=2, delay_s=1.0, error="second")]


async def test_concurrent_tasks_hear_their_own_retries() -> None:
    heard: dict[str, list[int]] = {"a": [], "b": []}

    async def run(name: str) -> None:
        with retry_listener(lambda event: heard[name].append(event.attempt)):
            for attempt in (1, 2):
                await asyncio.sleep(0)
                report_retry(attempt, 0.0, name)

    await asyncio.gather(run("a"), run("b"))
    assert heard == {"a": [1, 2], "b": [1, 2]}


def test_a_failing_listener_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: ModelRetrying) -> None:
        raise RuntimeError("observer bug")

    with caplog.at_level(logging.ERROR), retry_listener(broken):
        report_retry(1, 0.5, "model API returned HTTP 529: Overloaded")
    assert "retry listener failed" in caplog.text
