"""One quote per tool call: the booking rules and the booking itself judge the same offer.

Each rule that guards ``book_flight`` needs the offer re-quoted from the inventory (the price
in the request is never trusted). Asking the inventory once per rule would cost a request each
(a real flight API is slow and metered) and would let two rules judge two different prices if
the fare moved in between. Both drivers build a fresh ``RunContext`` for every execution of a
call, so quotes are kept per context: the same call evaluated again once approved, or retried
by Temporal, is quoted afresh.
"""

from __future__ import annotations

import weakref
from typing import Any

from agentflow import RunContext
from examples.travel.inventory import FlightProvider
from examples.travel.policy import Offer

# Keyed by id(ctx): a RunContext is not hashable (its transcript is a list). An entry lives as
# long as its context, and is dropped by a finalizer before that id can be given to another.
_quotes: dict[int, dict[str, Offer | None]] = {}


def quote(ctx: RunContext[Any], flights: FlightProvider, offer_id: str) -> Offer | None:
    """``flights.find(offer_id)``, asked at most once during the call ``ctx`` belongs to."""
    key = id(ctx)
    call_quotes = _quotes.get(key)
    if call_quotes is None:
        call_quotes = _quotes[key] = {}
        weakref.finalize(ctx, _quotes.pop, key, None)
    if offer_id not in call_quotes:
        call_quotes[offer_id] = flights.find(offer_id)
    return call_quotes[offer_id]
