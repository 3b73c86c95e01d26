"""Provenance: where each value of a tool call's arguments came from.

Every value that enters the conversation has a source: the employee's messages, the output of
a tool (whose author declared it trusted, like an internal database, or not, like reviews,
e-mails, web pages), or the system prompt. A hijacked model copies an IBAN out of a review into
a payment; the payment's arguments are valid and its preconditions see nothing wrong. Tracing
each argument back to the text it appears in shows that the IBAN came from the review.

The framework cannot watch the model copy (it is a black box), so provenance is computed by
*matching*, after the fact, each leaf of the validated arguments against every source in the
transcript. The matching rule, in order:

1. **Whole value.** Text is normalised (Unicode NFKD, accents dropped, case folded) and split
   into tokens (runs of letters and digits). Numbers are normalised inside the text: ``1,200.50``,
   ``1200.5`` and ``1.200,50`` are one token ``1200.5``; ``007`` is ``7``. The value matches a
   source when its tokens appear there contiguously, in order (``Hotel  BRISTOL`` matches
   "the hotel bristol is"; ``12`` does not match ``1200``).
2. **Compact form.** A value with at least `MIN_COMPACT` letters and digits also matches a
   source that holds the same letters and digits with other separators (an IBAN written in
   groups, a phone number with dashes).
3. **Composed.** Otherwise each token is looked up on its own: ``anna.berg@evil.example``
   composed from the employee's ``anna.berg`` and a review's ``evil.example`` has parts from
   both. A token found nowhere is the model's own (``none``).

A tool's result never vouches for what its own call's arguments contained: a trusted tool that
echoes its input ("no hotel named X") would otherwise launder X. Error results (refusals, a
tool's ``ModelRetry`` text, which often quote the arguments back) are never trusted.

Limits, stated plainly: matching finds where a value *appears*, not how the model derived it. A
value the model computed (a sum, a date written differently: "14 December" vs ``2026-12-14``,
a translation) matches nothing or only in part; short tokens (``1``, ``a``) appear almost
everywhere and say little; a value made only of tokens the employee used elsewhere counts as
the employee's. Tracing is bounded: at most `MAX_LEAVES` leaves per call and
`MAX_VALUE_CHARS` characters per value; beyond that a leaf is ``untraced`` and every rule
treats it as not vouched for (fail closed). Booleans and nulls carry no provenance and are
skipped.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from agentflow.messages import Message, TextBlock, ToolResultBlock, ToolUseBlock

MAX_LEAVES = 200
"""Leaves traced per call; the rest are ``untraced``."""
MAX_VALUE_CHARS = 4_000
"""Characters of one value traced; a longer value is ``untraced``."""
MIN_COMPACT = 8
"""Letters and digits a value needs before its compact form is matched (shorter ones would
match inside unrelated text)."""

SourceKind = Literal["user", "system", "tool"]
MatchKind = Literal["whole", "compact", "composed", "none", "untraced"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One place a value appears: a user message, the system prompt, or one tool's output."""

    kind: SourceKind
    trusted: bool
    tool: str | None = None
    call_id: str | None = None
    message: int | None = None
    """Index of the message in the transcript (``None`` for the system prompt)."""

    def describe(self) -> str:
        if self.kind == "user":
            return "the employee's message"
        if self.kind == "system":
            return "the system prompt"
        trust = "trusted" if self.trusted else "untrusted"
        return f"the output of {self.tool} ({trust})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    """One token of a composed value and where it appears."""

    text: str
    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueProvenance:
    """Where one argument value came from (see the module docstring for the matching rule)."""

    path: str
    """The leaf's place in the arguments: ``iban``, ``travellers.0.email``."""
    match: MatchKind
    sources: tuple[Source, ...] = ()
    """Where the whole value appears; for a composed value, every part's sources."""
    parts: tuple[Part, ...] = ()
    """For a composed value: each token and its sources."""

    def _groups(self) -> Iterator[tuple[Source, ...]]:
        if self.match in ("whole", "compact"):
            yield self.sources
        else:
            for part in self.parts:
                yield part.sources

    @property
    def trusted(self) -> bool:
        """Every part appears in the employee's words, the system prompt or a trusted output."""
        if self.match in ("none", "untraced"):
            return False
        return all(any(s.trusted for s in group) for group in self._groups())

    @property
    def untrusted_only(self) -> bool:
        """Some part appears only in untrusted output (or the value could not be traced)."""
        if self.match == "untraced":
            return True
        return any(group and not any(s.trusted for s in group) for group in self._groups())

    @property
    def invented(self) -> bool:
        """Some part appears nowhere: the model wrote it."""
        return self.match == "none" or any(not p.sources for p in self.parts)

    def describe(self) -> str:
        """One line for an approval card or the audit trail."""
        if self.match == "untraced":
            return "not traced (too large)"
        if self.match == "none":
            return "nowhere in the conversation (the model wrote it)"
        places = ", ".join(dict.fromkeys(s.describe() for s in self.sources))
        if self.match == "composed":
            note = "; parts appear nowhere" if self.invented else ""
            return f"composed from {places}{note}"
        return places

    def sentence(self) -> str:
        """The same, as a sentence about the argument: a rule's reason."""
        if self.match == "untraced":
            return f"{self.path} was not traced (too large)"
        if self.match == "none":
            return f"{self.path} appears nowhere in the conversation (the model wrote it)"
        if self.match == "composed":
            return f"{self.path} is {self.describe()}"
        return f"{self.path} came from {self.describe()}"


@dataclass(frozen=True, kw_only=True)
class SourceLabels:
    """How a conversation's values are labelled: the system prompt and the trusted tools."""

    system: str = ""
    trusted_tools: frozenset[str] = frozenset()


NO_LABELS = SourceLabels()


@dataclass(frozen=True, slots=True)
class ArgumentsProvenance(Mapping[str, ValueProvenance]):
    """The provenance of every traced leaf of one call's arguments, by path."""

    leaves: Mapping[str, ValueProvenance] = field(default_factory=dict[str, ValueProvenance])

    def __getitem__(self, path: str) -> ValueProvenance:
        return self.leaves[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self.leaves)

    def __len__(self) -> int:
        return len(self.leaves)

    def argument(self, name: str) -> tuple[ValueProvenance, ...]:
        """Every traced leaf of the top-level argument ``name`` (a list or object has several)."""
        prefix = name + "."
        return tuple(v for p, v in self.leaves.items() if p == name or p.startswith(prefix))

    def describe(self) -> dict[str, str]:
        """Each leaf's path and where it came from, in words (approval cards, audit trail)."""
        return {path: value.describe() for path, value in self.leaves.items()}


# -- normalisation ---------------------------------------------------------------------------

_TOKEN = re.compile(r"\d[\d.,']*\d(?![^\W_])|[^\W_]+")
"""A number with its separators (``1,200.50``), or a run of letters and digits."""
_DIGITS = re.compile(r"\d+")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _number(token: str) -> list[str]:
    """A number token as canonical digits: grouping dropped, the decimal mark a dot.

    Both marks present: the last is the decimal mark. One mark once, not followed by exactly
    three digits: it is the decimal mark (``12,50``); otherwise it groups (``1,200``,
    ``1.200.000``). Anything else (a date ``14.12.2026``) is its digit runs, one token each.
    """
    text = token.replace("'", ",")  # a Swiss grouping mark; NFKD made narrow spaces spaces
    marks = [c for c in text if c in ".,"]
    if not marks:
        return [text.lstrip("0") or "0"]
    last = max(text.rfind("."), text.rfind(","))
    both = len(set(marks)) == 2 and marks.count(text[last]) == 1
    single = len(marks) == 1 and (len(text) - last - 1 != 3 or text[:last] == "0")
    if both or single:
        whole, fraction = text[:last], text[last + 1 :]
    else:
        whole, fraction = text, ""
    grouping = whole.replace(".", ",")
    if "," in grouping and not _GROUPED.fullmatch(grouping):
        return [d.lstrip("0") or "0" for d in _DIGITS.findall(token)]
    whole = grouping.replace(",", "").lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return [f"{whole}.{fraction}" if fraction else whole]


def tokens(text: str) -> list[str]:
    """``text`` as the normalised tokens matching compares (see the module docstring)."""
    out: list[str] = []
    for token in _TOKEN.findall(_fold(text)):
        if token[0].isdigit() and token[-1].isdigit() and not token.isalnum():
            out.extend(_number(token))
        elif token.isdigit():
            out.append(token.lstrip("0") or "0")
        else:
            out.append(token)
    return out


def _compact(text: str) -> str:
    return "".join(_TOKEN_CHARS.findall(_fold(text)))


_TOKEN_CHARS = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class _Text:
    """One text, normalised once: its token set, its tokens joined, its compact form."""

    tokens: frozenset[str]
    joined: str
    compact: str


CACHED_CHARS = 64 * 1024
"""Texts up to this size are kept normalised between calls (see `_Cache`)."""
CACHE_BUDGET_CHARS = 8 * 1024 * 1024
"""The characters of text whose normalised form a process keeps, in all: the least recently
used go first. A conversation within it costs each call a lookup per text, not a new scan."""


def _normalise(text: str) -> _Text:
    found = tokens(text)
    return _Text(frozenset(found), " " + " ".join(found) + " ", _compact(text))


class _Cache:
    """Normalised texts by their text, least recently used first out, bounded in characters.

    ``functools.lru_cache`` bounds entries, not size: a long conversation has more texts than
    any fixed count, and evicting by count made every call of it normalise all of them again.
    """

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._size = 0
        self._entries: OrderedDict[str, _Text] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> _Text:
        if len(text) > CACHED_CHARS:
            return _normalise(text)
        with self._lock:
            found = self._entries.get(text)
            if found is not None:
                self._entries.move_to_end(text)
                return found
        normalised = _normalise(text)
        with self._lock:
            if text not in self._entries:
                self._entries[text] = normalised
                self._size += len(text)
                while self._size > self._budget:
                    evicted, _ = self._entries.popitem(last=False)
                    self._size -= len(evicted)
        return normalised


_CACHE = _Cache(CACHE_BUDGET_CHARS)
_normalised = _CACHE.get


_EMPTY = _Text(frozenset(), " ", "")


@dataclass(frozen=True, slots=True)
class _Entry:
    source: Source
    text: _Text
    echo: _Text
    """The arguments of the call that produced it: what a result does not vouch for."""


# -- tracing ---------------------------------------------------------------------------------


class Provenance:
    """The sources of one conversation, and the provenance of values against them.

    Built by [`RunContext`][agentflow.RunContext] on first use (``ctx.provenance``) from the
    transcript and the agent's [`SourceLabels`][agentflow.SourceLabels]; nothing is computed for a
    call no one asks about.
    """

    def __init__(self, messages: Sequence[Message], labels: SourceLabels = NO_LABELS) -> None:
        self._entries = _sources(messages, labels)

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(e.source for e in self._entries)

    def of(self, value: Any, path: str = "") -> ValueProvenance:
        """Where ``value`` (a string or a number) appears in the conversation."""
        text = _leaf_text(value)
        if text is None:
            return ValueProvenance(path=path, match="none")
        if len(text) > MAX_VALUE_CHARS:
            return ValueProvenance(path=path, match="untraced")
        return self._trace(text, path)

    def arguments(self, arguments: Mapping[str, Any]) -> ArgumentsProvenance:
        """The provenance of every leaf of a call's JSON-mode arguments."""
        leaves: dict[str, ValueProvenance] = {}
        for path, value in _leaves(arguments, ""):
            if len(leaves) >= MAX_LEAVES:
                leaves[path] = ValueProvenance(path=path, match="untraced")
            else:
                leaves[path] = self.of(value, path)
        return ArgumentsProvenance(leaves)

    def _trace(self, text: str, path: str) -> ValueProvenance:
        value = _normalised(text)
        found = value.tokens
        if not found:
            return ValueProvenance(path=path, match="none")
        phrase = value.joined
        whole = tuple(
            e.source
            for e in self._entries
            if found <= e.text.tokens and phrase in e.text.joined and phrase not in e.echo.joined
        )
        if whole:
            return ValueProvenance(path=path, match="whole", sources=whole)
        compact = value.compact
        if len(compact) >= MIN_COMPACT:
            near = tuple(
                e.source
                for e in self._entries
                if compact in e.text.compact and compact not in e.echo.compact
            )
            if near:
                return ValueProvenance(path=path, match="compact", sources=near)
        parts = tuple(
            Part(
                text=token,
                sources=tuple(
                    e.source
                    for e in self._entries
                    if token in e.text.tokens and token not in e.echo.tokens
                ),
            )
            for token in dict.fromkeys(phrase.split())
        )
        if not any(p.sources for p in parts):
            return ValueProvenance(path=path, match="none")
        union = tuple(dict.fromkeys(s for p in parts for s in p.sources))
        return ValueProvenance(path=path, match="composed", sources=union, parts=parts)


def _sources(messages: Sequence[Message], labels: SourceLabels) -> list[_Entry]:
    entries: list[_Entry] = []
    if labels.system.strip():
        system = Source(kind="system", trusted=True)
        entries.append(_Entry(system, _normalised(labels.system), _EMPTY))
    calls: dict[str, ToolUseBlock] = {}
    for index, message in enumerate(messages):
        for block in message.content:
            if isinstance(block, ToolUseBlock):
                calls[block.id] = block
            elif isinstance(block, TextBlock) and message.role == "user":
                user = Source(kind="user", trusted=True, message=index)
                entries.append(_Entry(user, _normalised(block.text), _EMPTY))
            elif isinstance(block, ToolResultBlock):
                call = calls.get(block.tool_use_id)
                name = call.name if call is not None else None
                source = Source(
                    kind="tool",
                    trusted=name in labels.trusted_tools and not block.is_error,
                    tool=name or "an unknown tool",
                    call_id=block.tool_use_id,
                    message=index,
                )
                echo = _normalised(_echo_text(call.input)) if call is not None else _EMPTY
                entries.append(_Entry(source, _normalised(block.content), echo))
    return entries


def _echo_text(value: Any) -> str:
    return " ".join(text for _, leaf in _leaves(value, "") if (text := _leaf_text(leaf)))


def _leaf_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Each non-null, non-boolean leaf with its dotted path, depth first, in order.

    Iterative: a model's raw input in the transcript was never validated and may nest deeper
    than the interpreter's recursion limit.
    """
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        here, item = stack.pop()
        if isinstance(item, Mapping):
            children = cast(Mapping[Any, Any], item).items()
        elif isinstance(item, list | tuple):
            children = enumerate(cast(Sequence[Any], item))
        else:
            if not (isinstance(item, bool) or item is None):
                yield here, item
            continue
        stack.extend(
            (f"{here}.{key}" if here else str(key), child)
            for key, child in reversed(list(children))
        )
