"""Masking personal data before it is recorded: card numbers, IBANs, passport numbers, emails.

The audit trail keeps what the agent saw and did for years, in a database many people can read
and, through OTLP, in systems outside the company. Personal data in a user's message or a tool's
arguments must not travel there in clear. Every piece of content (message text, tool arguments
and results, approval arguments, reasons) goes through a [`Redact`][agentflow.audit.Redact] callable
at the moment a span is recorded, so nothing downstream — the audit store, an OTLP collector, a
processor someone adds later — ever receives it unmasked.

The default [`Redactor`][agentflow.audit.Redactor] masks:

- card numbers: 13 to 19 digits that pass the Luhn check (so order numbers and timestamps stay
  readable), written in one piece or in groups separated by up to three spaces (non-breaking
  ones included), dots, dashes, slashes, underscores or invisible characters; the last four
  digits are kept, as on a receipt. A card sent as a JSON number is masked too;
- IBANs: a country code, two check digits and 11 to 30 letters and digits, in one piece or in
  groups of four separated by single spaces, that pass the ISO 13616 mod-97 check (the last
  four characters are kept);
- passport numbers: a 6 to 9 character number, in either case, with at least one digit that
  follows the word "passport" (a bare pattern would mask every booking reference);
- email addresses.

In structured content (tool arguments, JSON results) values under keys that name personal data
(``passport_number``, ``card``, ``email``, ...) are masked whatever they look like, because a model
may well send a card number without its spaces or a passport number without the word "passport".
More patterns and keys are configurable; a plain ``Callable[[str], str]`` works too.

**Time is linear and bounded.** Content comes from models, users and tools, so its size is not
ours to choose, and a worker that redacts a huge argument stalls every conversation it serves.
Each built-in pattern is matched in time linear in the text (no pattern can rescan what it has
passed), and a [`Redactor`][agentflow.audit.Redactor] scans at most ``limit`` characters of one
string (`DEFAULT_LIMIT`): the rest is cut off and replaced by a marker that says how much was cut,
never recorded unscanned. Patterns added through ``patterns`` are the caller's to keep linear;
the limit bounds them too.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from itertools import accumulate
from typing import Any, cast

Redact = Callable[[str], str]
"""Returns ``text`` with personal data masked. Must be pure and must not raise."""

MaskFunction = Callable[[re.Match[str]], str]
"""Turns one match of a pattern into its masked form."""

DEFAULT_LIMIT = 100_000
"""How many characters of one string a `Redactor` scans; the rest is cut off."""

_FRAGMENT_MAX = 320
"""How far back from a cut to look for the start of a split token: a split e-mail address or
card number would not be recognised, so the part before the cut goes too."""

# Between digit groups: whitespace (non-breaking spaces included), dots, dashes of every width,
# slashes, underscores, and characters that print as nothing (soft hyphen, zero-width ones).
_SEPARATOR = r"[\s./_\-\u00ad\u200b-\u200d\u2010-\u2015\u2060\u2212\ufeff]"
# Runs of digit groups that hold at least 13 digits (the look-ahead is bounded): shorter ones
# are passed over without a call into Python.
_DIGIT_RUN = re.compile(
    # The first digit is matched before the look-behind so that the engine can skip to digits.
    rf"\d(?<!\d\d)(?=(?:{_SEPARATOR}{{0,3}}\d){{12}})\d*(?:{_SEPARATOR}{{1,3}}\d+)*"
)
_DIGITS = re.compile(r"\d+")
_NOT_DIGITS = re.compile(r"\D+")
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLE = bytes.maketrans(b"0123456789", bytes(_DOUBLED))
_CARD_DIGITS = range(13, 20)

# In one piece, or in groups of four as printed; the mod-97 check and a group boundary decide
# where it ends ("BE68 5390 0754 7034 from" is an IBAN and a word).
_IBAN = re.compile(
    r"\b[A-Za-z]{2}\d{2}"
    r"(?:[A-Za-z0-9]{11,30}\b|(?:[ \u00a0][A-Za-z0-9]{4}){2,7}(?:[ \u00a0][A-Za-z0-9]{1,4})?\b)"
)
_IBAN_LENGTHS = range(15, 35)
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_ALNUM_CHARACTER = re.compile(r"[A-Za-z0-9]")
_SPACES = re.compile(r"[ \u00a0]")
_LETTER_NUMBERS = {ord(letter): str(ord(letter) - 55) for letter in string.ascii_uppercase}

# The look-behind makes an address start where a run of address characters starts: without it
# a long run with no "@" is rescanned from each of its characters (quadratic).
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
_PASSPORT = re.compile(
    # "passport", up to two short words ("number", "is", "no."), then the number itself; the
    # look-ahead for its digit is bounded by the number's own length.
    r"(?i:passport)\W{0,3}(?:[A-Za-z.#]{1,8}\W{1,3}){0,2}"
    r"(?P<number>\b(?=[A-Za-z0-9]{0,8}\d)[A-Za-z0-9]{6,9})\b"
)
_TOKEN_CHARACTER = re.compile(rf"[\w@%+]|{_SEPARATOR}")
DEFAULT_SENSITIVE_KEYS = (
    r"passport",
    r"card(_?number)?$",
    r"^pan$",
    r"cvv|cvc|security_code",
    r"e_?mail",
    r"iban",
)
"""Regular expressions (searched, case-insensitive) for keys whose values are always masked."""


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        total += _DOUBLED[value] if index % 2 == 1 else value
    return total % 10 == 0


def mask_cards(text: str) -> str:
    """``text`` with every Luhn-valid card number masked (see the module docstring)."""
    return _DIGIT_RUN.sub(_mask_card_run, text)


def _mask_card_run(match: re.Match[str]) -> str:
    """Mask every card number in a run of digit groups ("pay 2400 4111 1111 1111 1111").

    A card starts and ends on a group boundary and has 13 to 19 digits; the longest Luhn-valid
    candidate at each group start wins. Matching the run as a whole would try "2400 4111 1111
    1111" once, fail the checksum, and let the card after it through. Each group start has at
    most seven candidate ends and each checksum is a difference of two prefix sums, so a run
    costs time linear in its length.
    """
    run = match.group(0)
    groups = [m.span() for m in _DIGITS.finditer(run)]
    if len(groups) == 1:
        return _card_mask(run) if len(run) in _CARD_DIGITS and luhn_valid(run) else run
    digits = _NOT_DIGITS.sub("", run)
    if len(digits) in _CARD_DIGITS and luhn_valid(digits):
        return _card_mask(digits)  # the usual case: one card in groups
    if not digits.isascii():
        digits = "".join(str(int(d)) for d in digits)
    ascii_digits = digits.encode()
    # Luhn doubles every second digit counted from the last: prefix sums for either parity.
    even_doubled, odd_doubled = bytearray(ascii_digits.translate(_PLAIN)), bytearray()
    odd_doubled[:] = even_doubled
    doubled = ascii_digits.translate(_DOUBLE)
    even_doubled[0::2], odd_doubled[1::2] = doubled[0::2], doubled[1::2]
    sums = (list(accumulate(even_doubled, initial=0)), list(accumulate(odd_doubled, initial=0)))
    starts = list(accumulate((end - start for start, end in groups[:-1]), initial=0))
    group_ending = {start: index - 1 for index, start in enumerate(starts)} | {
        len(digits): len(groups) - 1
    }
    longest: dict[int, int] = {}
    for length in _CARD_DIGITS:  # ascending: a longer valid candidate replaces a shorter one
        for start in starts:
            end = start + length
            # The last digit is never doubled; doubled are those of the other parity.
            if end in group_ending and (sums[end % 2][end] - sums[end % 2][start]) % 10 == 0:
                longest[start] = end
    masked: list[str] = []
    cursor = masked_to = 0
    for index, start in enumerate(starts):
        end = longest.get(start)
        if end is None or start < masked_to:
            continue
        masked.append(run[cursor : groups[index][0]])
        masked.append(_card_mask(digits[:end]))
        cursor, masked_to = groups[group_ending[end]][1], end
    masked.append(run[cursor:])
    return "".join(masked)


def _card_mask(digits: str) -> str:
    return f"[CARD ****{digits[-4:]}]"


def mask_ibans(text: str) -> str:
    """``text`` with every IBAN that passes the mod-97 check masked, its last four kept."""
    pieces: list[str] = []
    cursor = position = 0
    while (match := _IBAN.search(text, position)) is not None:
        iban = _iban(text, match)
        if iban is None:
            position = match.start() + 1
            continue
        pieces.append(text[cursor : match.start()])
        pieces.append(f"[IBAN ****{_SPACES.sub('', iban)[-4:].upper()}]")
        cursor = position = match.start() + len(iban)
    pieces.append(text[cursor:])
    return "".join(pieces)


def _iban(text: str, match: re.Match[str]) -> str | None:
    """The longest valid IBAN that ``match`` starts with and that ends on a group boundary."""
    chunk = match.group(0)
    # ISO 13616: country and check digits moved to the end, letters as the numbers 10 to 35;
    # the remainder modulo 97 is carried from group to group.
    head = chunk[:4].upper().translate(_LETTER_NUMBERS)
    moved, shift = int(head), 10 ** len(head)
    remainder = length = 0
    found = None
    for group in _ALNUM_RUN.finditer(chunk, 4):
        piece = group.group(0).upper().translate(_LETTER_NUMBERS)
        remainder = (remainder * 10 ** len(piece) + int(piece)) % 97
        length += group.end() - group.start()
        if (
            length + 4 in _IBAN_LENGTHS
            and (remainder * shift + moved) % 97 == 1
            and not _ALNUM_CHARACTER.match(text, match.start() + group.end())
        ):
            found = group.end()
    return None if found is None else chunk[:found]


def _mask_passport(match: re.Match[str]) -> str:
    start, end = match.span("number")
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + "[PASSPORT]" + whole[end - offset :]


def _mask_emails(text: str) -> str:
    return _EMAIL.sub("[EMAIL]", text) if "@" in text else text


def _substitute(pattern: re.Pattern[str], mask: MaskFunction) -> Redact:
    return lambda text: pattern.sub(mask, text)


class Redactor:
    """The default `Redact`: personal-data patterns, plus key-aware masking of structures.

    Args:
        cards: mask Luhn-valid card numbers (keeping the last four digits).
        ibans: mask IBANs that pass their mod-97 check (keeping the last four characters).
        passports: mask passport numbers that follow the word "passport".
        emails: mask email addresses.
        patterns: more patterns, by name: a regular expression (its matches become
            ``[NAME]``) or a ``(pattern, mask)`` pair where ``mask`` builds the replacement.
        sensitive_keys: regular expressions for mapping keys whose values are masked entirely
            in structured content; `DEFAULT_SENSITIVE_KEYS` unless given.
        limit: how many characters of one string are scanned (and kept); the rest is replaced
            by a marker saying how many characters were cut. The time a call takes is linear in
            ``min(len(text), limit)`` for the built-in patterns.
    """

    def __init__(
        self,
        *,
        cards: bool = True,
        ibans: bool = True,
        passports: bool = True,
        emails: bool = True,
        patterns: Mapping[str, str | re.Pattern[str] | tuple[str | re.Pattern[str], MaskFunction]]
        | None = None,
        sensitive_keys: Iterable[str] = DEFAULT_SENSITIVE_KEYS,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        # IBANs before cards: an IBAN's digits can contain a Luhn-valid run.
        rules: list[Redact] = []
        if ibans:
            rules.append(mask_ibans)
        if cards:
            rules.append(mask_cards)
        if passports:
            rules.append(_substitute(_PASSPORT, _mask_passport))
        if emails:
            rules.append(_mask_emails)
        for name, spec in (patterns or {}).items():
            if isinstance(spec, tuple):
                pattern, mask = spec
                rules.append(_substitute(re.compile(pattern), mask))
            else:
                label = f"[{name.upper()}]"
                rules.append(_substitute(re.compile(spec), lambda _match, label=label: label))
        self._rules = tuple(rules)
        self.limit = limit
        keys = list(sensitive_keys)
        self._keys = re.compile("|".join(f"(?:{k})" for k in keys), re.I) if keys else None

    def __call__(self, text: str) -> str:
        text, cut = _cut(text, self.limit)
        for rule in self._rules:
            text = rule(text)
        return text + cut

    def is_sensitive_key(self, key: str) -> bool:
        return self._keys is not None and self._keys.search(key) is not None


def _cut(text: str, limit: int) -> tuple[str, str]:
    """The first ``limit`` characters of ``text``, and a marker for what was cut (or ``""``).

    A token the cut would split (half a card number or an address) is cut with the rest.
    """
    if len(text) <= limit:
        return text, ""
    keep = limit
    floor = max(0, limit - _FRAGMENT_MAX)
    while keep > floor and _TOKEN_CHARACTER.fullmatch(text[keep - 1]):
        keep -= 1
    return text[:keep], f"[… {len(text) - keep} more characters not recorded]"


def redact_value(value: Any, redact: Redact) -> Any:
    """Mask personal data in JSON-like ``value``: every string, and sensitive keys wholesale.

    Keys are recognised only when ``redact`` is a [`Redactor`][agentflow.audit.Redactor] (a plain
    callable knows nothing about keys); strings are always passed through ``redact``, and so are
    numbers, as their JSON text (a card number sent as an integer comes back as a masked string).
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
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        masked_text = redact(text)
        return value if masked_text == text else masked_text
    return value


def _mask_whole(value: Any, redact: Redact) -> str:
    # A card number keeps its last four digits when it is recognisable as one.
    text = str(value)
    masked = redact(text)
    return masked if masked != text and "[CARD" in masked else "[REDACTED]"
