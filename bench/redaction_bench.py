"""Redaction throughput: how many MB of content per second the default ``Redactor`` masks.

Every message, tool argument and tool result passes through the redactor before it is recorded,
inside the worker that runs the conversation. The texts are kept under the redactor's limit so
that the whole text is scanned; "hostile" texts are the slowest shapes for the patterns
(IBAN-shaped groups, digit groups that are never a card), the ones that used to be quadratic.

Prints one JSON line: ``{"redaction_mb_per_s": {corpus: MB/s, ...}, "limit_chars": ...}``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable

from agentflow.audit.redaction import DEFAULT_LIMIT, Redactor

SIZE = 90_000  # characters: under the limit, so nothing is cut

_CHAT = (
    "Book me the cheapest flight from ZRH to LHR on 2026-12-14, pay with my card "
    "4111 1111 1111 1111, passport X1234567, refund to IBAN CH93 0076 2011 6238 5295 7 and "
    "mail the ticket to alice@example.com. The return should be on Sunday evening, thanks. "
)
_OFFER = {
    "flight": "LX318",
    "origin": "ZRH",
    "destination": "LHR",
    "departure": "2026-12-14T07:40",
    "cabin": "economy",
    "price": 212.35,
    "policy_issues": [],
}

CORPORA: dict[str, str] = {
    "chat with personal data": (_CHAT * (SIZE // len(_CHAT) + 1))[:SIZE],
    "tool result (JSON text)": json.dumps([_OFFER] * (SIZE // len(json.dumps(_OFFER))))[:SIZE],
    "hostile: IBAN-shaped groups": ("CH93 " * SIZE)[:SIZE],
    "hostile: digit groups": ("1 " * SIZE)[:SIZE],
}


def throughput(redact: Callable[[str], str], text: str, repeats: int) -> float:
    """Median MB/s over ``repeats`` runs (MB of UTF-8 text)."""
    size = len(text.encode()) / 1e6
    times: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        redact(text)
        times.append(time.perf_counter() - started)
    return size / statistics.median(times)


def main() -> None:
    repeats = int(os.environ.get("BENCH_REDACTION_REPEATS", "15"))
    redact = Redactor()
    redact("warm up 4111 1111 1111 1111 a@b.ch")
    result = {
        "redaction_mb_per_s": {
            name: round(throughput(redact, text, repeats), 2) for name, text in CORPORA.items()
        },
        "limit_chars": DEFAULT_LIMIT,
        "repeats": repeats,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
