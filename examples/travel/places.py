"""Place names to airports, as employees say them: "ZRH", "NYC", "New York", "London".

Everything comes from the ``airportsdata`` package: IATA airport codes, the metropolitan codes
that group a city's airports (NYC, LON, PAR) with their names, and each airport's city. A city
with several airports resolves to the travel desk's preferred one (:data:`PREFERRED`), else to
its one international airport; where that still leaves a choice, the answer names the
airports to choose from instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import airportsdata

from examples.travel.inventory import airports

PREFERRED = {
    "LON": "LHR",
    "NYC": "JFK",
    "PAR": "CDG",
    "TYO": "HND",
    "MIL": "MXP",
    "CHI": "ORD",
    "WAS": "IAD",
    "ROM": "FCO",
    "STO": "ARN",
    "MOW": "SVO",
    "BERLIN": "BER",
    "FRANKFURT": "FRA",
}
"""The airport the travel desk books for a metropolitan code or city.

A company's choice: the data has no notion of a main airport.
"""
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "be",
        "me",
        "my",
        "us",
        "our",
        "it",
        "this",
        "that",
        "next",
        "on",
        "at",
        "in",
        "to",
        "for",
        "of",
        "by",
        "and",
        "or",
        "any",
        "all",
        "one",
        "flight",
        "flights",
        "trip",
        "please",
        "tomorrow",
        "today",
        "morning",
        "evening",
        "afternoon",
        "night",
    ]
)
"""Words that start no place name, though some are airport codes or city names (THE, ONE)."""
MAX_WORDS = 4
"""The longest place name tried ("Rio de Janeiro", "Salt Lake City")."""


@dataclass(frozen=True)
class Place:
    """What a name resolved to: one airport, or the airports it could mean."""

    name: str
    """The words as the employee wrote them."""
    airport: str | None
    """The IATA code to search from or to; ``None`` when the name is ambiguous."""
    candidates: tuple[str, ...] = ()
    """The airports an ambiguous name could mean."""

    def describe(self) -> str:
        """The airports an ambiguous name could mean, for a question to the employee."""
        known = airports()
        return ", ".join(f"{c} ({known[c]['name']})" for c in self.candidates)


@cache
def _metros() -> dict[str, airportsdata.IATAMAC]:
    return airportsdata.load_iata_macs()


@cache
def _by_name() -> dict[str, tuple[str, ...]]:
    """Lower-case city and metropolitan names to the airports they may mean."""
    found: dict[str, list[str]] = {}
    for code, airport in airports().items():
        found.setdefault(airport["city"].lower(), []).append(code)
    for metro, data in _metros().items():
        found[data["name"].lower()] = [f"metro:{metro}"]
    return {name: tuple(codes) for name, codes in found.items()}


def resolve(name: str) -> Place | None:
    """The airport ``name`` means: a code (in capitals), a metropolitan code or a city name."""
    words = name.strip()
    if re.fullmatch(r"[A-Z]{3}", words):
        if words in _metros():
            return _metro(words, words)
        if words in airports():
            return Place(words, words)
        return None
    if not words or words.split()[0].lower() in STOPWORDS:
        return None
    codes = _by_name().get(words.lower())
    if not codes and words.upper() in PREFERRED:  # a city the data names otherwise
        return Place(words, PREFERRED[words.upper()])
    if not codes:
        return None
    if codes[0].startswith("metro:"):
        return _metro(words, codes[0].removeprefix("metro:"))
    return _choose(words, codes)


def find_place(text: str, after: tuple[str, ...]) -> Place | None:
    """The first place named right after one of the words ``after`` ("to", "in", "from").

    The longest run of words that names a place wins ("New York" over "New"); the run stops
    at punctuation.
    """
    for start in _starts(text, after):
        words = re.findall(r"[\w'-]+", re.split(r"[,.;:!?()]", text[start:], maxsplit=1)[0])
        for size in range(min(MAX_WORDS, len(words)), 0, -1):
            place = resolve(" ".join(words[:size]))
            if place is not None:
                return place
    return None


def _starts(text: str, after: tuple[str, ...]) -> Iterator[int]:
    pattern = r"\b(?:" + "|".join(re.escape(a) for a in after) + r")\s+"
    for match in re.finditer(pattern, text, re.IGNORECASE):
        yield match.end()


def _metro(name: str, metro: str) -> Place:
    codes = tuple(sorted(_metros()[metro]["airports"]))
    preferred = PREFERRED.get(metro)
    if preferred in codes:
        return Place(name, preferred)
    return _choose(name, codes)


def _choose(name: str, codes: tuple[str, ...]) -> Place:
    if len(codes) == 1:
        return Place(name, codes[0])
    preferred = PREFERRED.get(name.upper())
    if preferred in codes:
        return Place(name, preferred)
    known = airports()
    international = [c for c in codes if "international" in known[c]["name"].lower()]
    if len(international) == 1:
        return Place(name, international[0])
    named = [c for c in codes if known[c]["name"].lower().startswith(name.lower() + " airport")]
    if len(named) == 1:  # "Dublin Airport" rather than another town's Dublin
        return Place(name, named[0])
    return Place(name, None, tuple(sorted(codes)))
