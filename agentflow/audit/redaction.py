"""Masking personal data before it is recorded: card numbers, passport numbers, emails.

The audit trail keeps what the agent saw and did for years, in a database many people can read
and, through OTLP, in systems outside the company. Personal data in a user's message or a tool's
arguments must not travel there in clear. Every piece of content (message text, tool arguments
and results, approval arguments, reasons) goes through a :data:`Redact` callable at the moment a
span is recorded, so nothing downstream — the audit store, an OTLP collector, a processor someone
adds later — ever receives it unmasked.

The default :class:`Redactor` masks:

- card numbers: 13 to 19 digits, optionally grouped by spaces or dashes, that pass the Luhn check
  (so order numbers and timestamps stay readable); the last four digits are kept, as on a receipt;
- passport numbers: a 6 to 9 character number with at least one digit that follows the word
  "passport" (a bare pattern would mask every booking reference);
- email addresses.

In structured content (tool arguments, JSON results) values under keys that name personal data
(``passport_number``, ``card``, ``email``, ...) are masked whatever they look like, because a model
may well send a card number without its spaces or a passport number without the word "passport".
More patterns and keys are configurable; a plain ``Callable[[str], str]`` works too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

Redact = Callable[[str], str]
"""Returns ``text`` with personal data masked. Must be pure and must not raise."""

MaskFunction = Callable[[re.Match[str]], str]
"""Turns one match of a pattern into its masked form."""

_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PASSPORT = re.compile(
    # "passport", up to two short words ("number", "is", "no."), then the number itself.
    r"(?i:passport)\W{0,3}(?:[A-Za-z.#]{1,8}\W{1,3}){0,2}"
    r"(?P<number>\b(?=[A-Z0-9]*\d)[A-Z0-9]{6,9})\b"
)
DEFAULT_SENSITIVE_KEYS = (
    r"passport",
    r"card(_?number)?$",
    r"^pan$",
    r"cvv|cvc|security_code",
    r"e_?mail",
)
"""Regular expressions (searched, case-insensitive) for keys whose values are always masked."""


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _mask_cards(match: re.Match[str]) -> str:
    """Mask every card number in a run of digit groups ("pay 2400 4111 1111 1111 1111").

    A card starts and ends on a group boundary and has 13 to 19 digits; the longest Luhn-valid
    candidate at each group start wins. Matching the run as a whole would try "2400 4111 1111
    1111" once, fail the checksum, and let the card after it through.
    """
    run = match.group(0)
    digits = [i for i, char in enumerate(run) if char.isdigit()]
    if len(digits) < 13:
        return run
    starts = {k for k, i in enumerate(digits) if k == 0 or not run[i - 1].isdigit()}
    ends = {k for k, i in enumerate(digits) if k == len(digits) - 1 or not run[i + 1].isdigit()}
    masked: list[str] = []
    cursor = k = 0
    while k < len(digits):
        end = next(
            (
                e
                for e in range(min(k + 18, len(digits) - 1), k + 11, -1)
                if k in starts
                and e in ends
                and luhn_valid("".join(run[i] for i in digits[k : e + 1]))
            ),
            None,
        )
        if end is None:
            k += 1
            continue
        masked.append(run[cursor : digits[k]])
        masked.append(f"[CARD ****{''.join(run[i] for i in digits[end - 3 : end + 1])}]")
        cursor = digits[end] + 1
        k = end + 1
    masked.append(run[cursor:])
    return "".join(masked)


def _mask_passport(match: re.Match[str]) -> str:
    start, end = match.span("number")
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + "[PASSPORT]" + whole[end - offset :]


class Redactor:
    """The default :data:`Redact`: personal-data patterns, plus key-aware masking of structures.

    Args:
        cards: mask Luhn-valid card numbers (keeping the last four digits).
        passports: mask passport numbers that follow the word "passport".
        emails: mask email addresses.
        patterns: more patterns, by name: a regular expression (its matches become
            ``[NAME]``) or a ``(pattern, mask)`` pair where ``mask`` builds the replacement.
        sensitive_keys: regular expressions for mapping keys whose values are masked entirely
            in structured content; :data:`DEFAULT_SENSITIVE_KEYS` unless given.
    """

    def __init__(
        self,
        *,
        cards: bool = True,
        passports: bool = True,
        emails: bool = True,
        patterns: Mapping[str, str | re.Pattern[str] | tuple[str | re.Pattern[str], MaskFunction]]
        | None = None,
        sensitive_keys: Iterable[str] = DEFAULT_SENSITIVE_KEYS,
    ) -> None:
        rules: list[tuple[re.Pattern[str], MaskFunction]] = []
        if cards:
            rules.append((_DIGIT_RUN, _mask_cards))
        if passports:
            rules.append((_PASSPORT, _mask_passport))
        if emails:
            rules.append((_EMAIL, lambda _match: "[EMAIL]"))
        for name, spec in (patterns or {}).items():
            if isinstance(spec, tuple):
                pattern, mask = spec
                rules.append((re.compile(pattern), mask))
            else:
                label = f"[{name.upper()}]"
                rules.append((re.compile(spec), lambda _match, label=label: label))
        self._rules = tuple(rules)
        keys = list(sensitive_keys)
        self._keys = re.compile("|".join(f"(?:{k})" for k in keys), re.I) if keys else None

    def __call__(self, text: str) -> str:
        for pattern, mask in self._rules:
            text = pattern.sub(mask, text)
        return text

    def is_sensitive_key(self, key: str) -> bool:
        return self._keys is not None and self._keys.search(key) is not None


def redact_value(value: Any, redact: Redact) -> Any:
    """Mask personal data in JSON-like ``value``: every string, and sensitive keys wholesale.

    Keys are recognised only when ``redact`` is a :class:`Redactor` (a plain callable knows
    nothing about keys); strings are always passed through ``redact``.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        mapping = cast(Mapping[Any, Any], value)
        masked: dict[str, Any] = {}
        for key, item in mapping.items():
            name = str(key)
            if (
                isinstance(redact, Redactor)
                and redact.is_sensitive_key(name)
                and item not in (None, "")
                and not isinstance(item, bool)
            ):
                masked[name] = _mask_whole(item, redact)
            else:
                masked[name] = redact_value(item, redact)
        return masked
    if isinstance(value, list | tuple):
        return [redact_value(item, redact) for item in cast(Iterable[Any], value)]
    return value


def _mask_whole(value: Any, redact: Redact) -> str:
    # A card number keeps its last four digits when it is recognisable as one.
    text = str(value)
    masked = redact(text)
    return masked if masked != text and "[CARD" in masked else "[REDACTED]"
