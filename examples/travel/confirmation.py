"""Which offers the employee's latest message confirms: a "yes" is bound to the offers it names.

The employee names an offer by its id ("LX880-ZRH-LHR-2026-12-14-E"), its flight number
("LX880"), its position in the list a tool showed last ("option 1", "options 1 and 6"), or as
"it" ("book it"): the one offer shown last, or by its place in that list ("the first one",
"the cheapest one": ranked by the fares and times the tool returned). What the employee said
is the run's latest user message, which the runtime hands to rules
(``ctx.latest_user_message``); lists and offers are read from tool results in the transcript,
output of code that the model cannot write, and only those shown *before* that message count,
so the model cannot change what "option 1" meant when the employee said it. A negated request
("do NOT book anything") confirms nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentflow.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock

BOOKING_CONFIRMED = re.compile(r"\b(book|yes|confirm|go ahead)\b", re.IGNORECASE)
NEGATED = re.compile(r"\b(not|don'?t|never|stop)\b|n't\b", re.IGNORECASE)
OFFER_ID = re.compile(r"\b[A-Z0-9]{2}\d{1,4}-[A-Z]{3}-[A-Z]{3}-\d{4}-\d{2}-\d{2}-[A-Z]\b", re.I)
OPTIONS = re.compile(r"\b(?:options?|numbers?|#)\s*((?:\d+(?:\s*(?:,|and|&)\s*)?)+)", re.I)
SINGLE_OFFER_TOOLS = ("show_offer", "check_policy")
PICKED = re.compile(
    r"\bthe\s+(first|second|third|fourth|fifth|last|cheapest|earliest|latest|fastest)"
    r"(?:\s+(?:one|option|offer|flight))?+\b"  # possessive: no backing off "flight" below
    # "the cheapest flight to Paris" asks for a new search, not for an offer already shown.
    r"(?!\s+(?:to|from|on|in|at|for|next|this|tomorrow)\b)",
    re.IGNORECASE,
)
POSITIONS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "last": -1}


@dataclass(frozen=True)
class Confirmation:
    """What the employee's latest message says about booking."""

    asks_to_book: bool
    offers: tuple[str, ...] = ()
    """The offer ids it names (empty when it names none that can be told apart)."""


def confirmation(said: str, messages: Sequence[Message]) -> Confirmation:
    """The offers ``said`` (the employee's latest message) asks to book, given what was shown."""
    if not BOOKING_CONFIRMED.search(said) or NEGATED.search(said):
        return Confirmation(asks_to_book=False)
    return Confirmation(asks_to_book=True, offers=offers_named(said, messages))


def offers_named(said: str, messages: Sequence[Message]) -> tuple[str, ...]:
    """The offers ``said`` (the employee's latest message) names, given what was shown before."""
    text = said
    index = _latest_employee_message(messages)
    shown = _Shown.before(messages[:index] if index is not None else messages)
    named = [match.upper() for match in OFFER_ID.findall(text)]
    rest = OFFER_ID.sub(" ", text)
    named += shown.by_flight_number(rest)
    referred = bool(named)
    if match := OPTIONS.search(rest):
        referred = True
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        named += [shown.options[n - 1] for n in numbers if 1 <= n <= len(shown.options)]
    if match := PICKED.search(rest):
        referred = True
        named += shown.picked(match.group(1).lower())
    if not referred and len(shown.latest) == 1:
        named = list(shown.latest)  # "book it": the one offer shown last
    return tuple(dict.fromkeys(named))


def _latest_employee_message(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "user" and any(isinstance(b, TextBlock) for b in message.content):
            return index
    return None


@dataclass
class _Shown:
    """The offers tools showed the employee, as of one point in the conversation."""

    options: list[str]
    """The latest list (every leg of the latest search), numbered from 1 as it was shown."""
    latest: list[str]
    """The offers of the latest showing: that list, or one offer shown on its own."""
    flights: dict[str, set[str]]
    """Flight number to offer ids, over the latest list and the offers shown after it."""
    ranks: dict[str, tuple[Any, Any, Any]] = field(default_factory=dict[str, tuple[Any, Any, Any]])
    """Offer id to (price, departure, duration) over the latest list, to pick "the cheapest"."""

    @classmethod
    def before(cls, messages: Sequence[Message]) -> _Shown:
        shown = cls(options=[], latest=[], flights={})
        calls: dict[str, ToolUseBlock] = {}
        for message in messages:
            calls |= {b.id: b for b in message.content if isinstance(b, ToolUseBlock)}
            results = [
                (calls[b.tool_use_id], _parse(b.content))
                for b in message.content
                if isinstance(b, ToolResultBlock) and not b.is_error and b.tool_use_id in calls
            ]
            listed = [
                offer
                for call, result in results
                if call.name == "search_flights" and isinstance(result, list)
                for offer in _offers(result)  # pyright: ignore[reportUnknownArgumentType]
            ]
            if listed:
                shown.options = [offer_id for offer_id, _ in listed]
                shown.latest = list(shown.options)
                shown.flights = {}
                shown.ranks = _ranks(
                    offer
                    for call, result in results
                    if call.name == "search_flights" and isinstance(result, list)
                    for offer in result  # pyright: ignore[reportUnknownVariableType]
                )
                shown._remember(listed)
            singles = _offers([r for c, r in results if c.name in SINGLE_OFFER_TOOLS])
            if singles:  # offers shown one by one (two different ones leave "it" ambiguous)
                shown.latest = list(dict.fromkeys(offer_id for offer_id, _ in singles))
                shown._remember(singles)
        return shown

    def picked(self, word: str) -> list[str]:
        """The offer of the latest list that "the first/last/cheapest/earliest one" means."""
        if not self.options:
            return []
        if word in POSITIONS:
            position = POSITIONS[word]
            return [self.options[position]] if position < len(self.options) else []
        ranked = [o for o in self.options if o in self.ranks]
        if len(ranked) != len(self.options):
            return []  # a list without fares and times: no ranking to read it from
        index = {"cheapest": 0, "earliest": 1, "latest": 1, "fastest": 2}[word]
        pick = max if word == "latest" else min
        return [pick(ranked, key=lambda o: self.ranks[o][index])]

    def by_flight_number(self, text: str) -> list[str]:
        """Offers named by a flight number that only one shown offer carries."""
        return [
            next(iter(ids))
            for flight, ids in self.flights.items()
            if len(ids) == 1 and re.search(rf"\b{re.escape(flight)}\b", text, re.I)
        ]

    def _remember(self, offers: list[tuple[str, str]]) -> None:
        for offer_id, flight in offers:
            self.flights.setdefault(flight, set()).add(offer_id)


def _ranks(results: Iterable[Any]) -> dict[str, tuple[Any, Any, Any]]:
    """(price, departure, duration) of each listed offer that says all three."""
    found: dict[str, tuple[Any, Any, Any]] = {}
    for result in results:
        if isinstance(result, dict):
            offer: dict[str, Any] = result  # pyright: ignore[reportUnknownVariableType]
            facts = (offer.get("price"), offer.get("departure"), offer.get("duration_hours"))
            if isinstance(offer.get("offer_id"), str) and None not in facts:
                found[offer["offer_id"]] = facts
    return found


def _parse(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _offers(results: list[Any]) -> list[tuple[str, str]]:
    """(offer id, flight number) of each offer-shaped result; anything else is ignored."""
    found: list[tuple[str, str]] = []
    for result in results:
        if isinstance(result, dict):
            offer_id: Any = result.get("offer_id")  # pyright: ignore[reportUnknownMemberType]
            flight: Any = result.get("flight")  # pyright: ignore[reportUnknownMemberType]
            if isinstance(offer_id, str) and isinstance(flight, str) and flight.split():
                found.append((offer_id, flight.split()[0]))
    return found
