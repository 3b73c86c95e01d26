"""Dates as employees say them: "next Tuesday", "tomorrow morning", "on the 14th".

``dateparser`` reads them (English, German, French, Spanish and Italian, offline) against a
given today, never the machine's clock, so a conversation replayed later means the same days.
A phrase without a month or year that would fall in the past ("on the 14th" on the 25th) means
the next such day: nobody books a flight for last week.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import dateparser
from dateparser.search import search_dates

LANGUAGES = ["en", "de", "fr", "es", "it"]


def _settings(base: date) -> Any:
    return {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": datetime.combine(base, time(0, 0)),
        "RETURN_AS_TIMEZONE_AWARE": False,
    }


def parse_day(phrase: str, today: date) -> date | None:
    """The day ``phrase`` names, seen from ``today``; ``None`` if it names none."""
    found = _parse(phrase, today)
    if found is None:
        return None
    day = found.date()
    if day >= today:
        return day
    # No month given ("the 14th"): the next month's; no year given ("14 March"): next year's.
    for base in (_next_month(today), date(today.year + 1, 1, 1)):
        later = _parse(phrase, base)
        if later is not None and later.date() >= today and later.date() != day:
            return later.date()
    return day


def _parse(phrase: str, base: date) -> datetime | None:
    """``phrase`` read from ``base``.

    A leading preposition dateparser does not know ("am 14. Dezember") is dropped.
    """
    found = dateparser.parse(phrase, languages=LANGUAGES, settings=_settings(base))
    rest = phrase.split(maxsplit=1)
    if found is None and len(rest) == 2:
        found = dateparser.parse(rest[1], languages=LANGUAGES, settings=_settings(base))
    return found


def find_day_phrase(text: str) -> str | None:
    """The words of ``text`` that name a day ("next Tuesday"), for :func:`parse_day` to read."""
    found = search_dates(text, languages=LANGUAGES, settings=_settings(date(2000, 1, 1)))
    for phrase, _ in found or []:
        words = phrase.strip(" ,.;")
        # search_dates may carry a dangling article on ("tomorrow morning, the").
        cleaned = words.rsplit(",", 1)[0] if "," in words else words
        if parse_day(cleaned, date(2000, 1, 1)) is not None:
            return cleaned
    return None


def _next_month(today: date) -> date:
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)
