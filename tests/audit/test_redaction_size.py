"""Redaction takes time linear in its input and bounded by the redactor's limit.

A model, a user or a tool decides how long a text is; a worker redacting it must not stall the
conversations it serves. Each generator below is a worst case for one of the patterns (a long
run of address characters without "@", digit groups that are never a card, IBAN-shaped groups,
"passport" over and over, ...). The assertions compare times, never absolute seconds, and
they count this thread's CPU time: time spent waiting for a core while other processes run is
not charged to the redactor, so a busy machine does not make a linear pattern look quadratic.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from agentflow.audit.redaction import DEFAULT_LIMIT, Redactor

MB = 1_000_000

HOSTILE: dict[str, Callable[[int], str]] = {
    "letters": lambda n: "a" * n,
    "address characters": lambda n: "a.b_c%d+e-" * (n // 10),
    "at signs": lambda n: "a@" * (n // 2),
    "domain": lambda n: "x@" + "a." * (n // 2),
    "digits": lambda n: "4" * n,
    "digit groups": lambda n: "1 " * (n // 2),
    "dotted digits": lambda n: "1." * (n // 2),
    "passport": lambda n: "passport no. " * (n // 13),
    "iban groups": lambda n: "CH93 " * (n // 5),
    "prose": lambda n: (
        (
            "Pay 2400 with 4111 1111 1111 1111, passport x1234567, IBAN CH93 0076 2011 6238 "
            "5295 7, mail alice@example.com on 2026-12-14. "
        )
        * (n // 128)
    ),
}


def fastest(redact: Callable[[str], str], text: str, runs: int = 3) -> float:
    """The least CPU time of ``runs`` redactions (the least is the one least disturbed)."""
    best = float("inf")
    for _ in range(runs):
        started = time.thread_time()
        redact(text)
        best = min(best, time.thread_time() - started)
    return best


@pytest.mark.parametrize("shape", HOSTILE)
def test_megabytes_cost_no_more_than_the_limit(shape: str) -> None:
    """Past the limit, the size of the input no longer matters (it was 2.96 s for 40 kB)."""
    redact = Redactor()
    small, large = HOSTILE[shape](MB // 2), HOSTILE[shape](4 * MB)
    assert fastest(redact, large) < 8 * fastest(redact, small)


@pytest.mark.parametrize("shape", HOSTILE)
def test_time_is_linear_up_to_the_limit(shape: str) -> None:
    """Sixteen times the text, about sixteen times the time (caches allow for four times that):
    a quadratic pattern would take 256 times as long."""
    redact = Redactor(limit=10 * MB)
    small, large = HOSTILE[shape](64_000), HOSTILE[shape](1_024_000)
    assert fastest(redact, large, runs=3) < 64 * fastest(redact, small, runs=5)


def test_what_is_past_the_limit_is_cut_and_says_so() -> None:
    text = "ok, " * 200 + "a" * 4000
    # The word the limit splits goes too, up to the comma before it.
    kept = "ok, " * 199 + "ok,"
    assert Redactor(limit=1000)(text) == f"{kept}[… {len(text) - 799} more characters not recorded]"


def test_a_card_split_by_the_cut_is_not_left_half_visible() -> None:
    redact = Redactor(limit=1000)
    text = "x, " * 330 + "4111 1111 1111 1111 and more"
    assert text.index("4111") < 1000 < text.index("1111 and")  # the limit splits the card
    masked = redact(text)
    assert "4111" not in masked and " 1111" not in masked
    assert masked.startswith("x, x, ") and masked.endswith("more characters not recorded]")


def test_the_default_limit_keeps_ordinary_content_whole() -> None:
    text = "Book LX14 for alice@example.com. " * (DEFAULT_LIMIT // 40)
    assert Redactor()(text) == text.replace("alice@example.com", "[EMAIL]")
