"""The transcript crosses into model calls once per message, not once per step.

A model call needs the whole transcript, and so do a tool's rules (``RunContext.messages``,
where each argument came from), and an activity's or child workflow's input is stored in the
workflow's history: sending the transcript with every call makes a conversation's history grow
with the square of its length. So the workflow sends each call only the messages added since its
previous model call, with a `TranscriptRef` naming what came before; the worker that runs
the call keeps the latest transcript of the conversations it served lately (bounded, least
recently used out first) and, when it has not got the one named (another worker ran the previous
call, a restart, an eviction, an approval decided days later), asks the conversation for it with
the ``model_context`` query.

Both halves live here: `TranscriptCursor` is deterministic workflow state,
`TranscriptCache` the activity side.

The whole transcript still crosses in a few places: the input a run continues as new with, the
input an idle conversation is reopened with, the ``model_context`` query's answer, and the first
model call of a new epoch; Temporal refuses a payload over 2 MiB. `elided` keeps a transcript
under a bound (`agentflow.temporal.activities.MAX_TRANSCRIPT_BYTES`) by replacing its oldest
large blocks with a marker the model reads; `TranscriptSize`, workflow state too, measures the
transcript a message at a time as it grows, so that the check before each model call does not
encode all of it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple, cast

from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic_core import to_json

from agentflow.messages import (
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    Message,
    TextBlock,
    ToolResultBlock,
)

MODEL_CONTEXT_QUERY = "model_context"
DEFAULT_CACHED_TRANSCRIPTS = 256
DEFAULT_CACHED_TRANSCRIPT_BYTES = 64 * 1024 * 1024
ELIDE_ABOVE = 2_000
"""Characters of a block's text below which `elided` leaves it as it is."""


class TranscriptRef(BaseModel):
    """The messages before a model call's own, by name: a chain of runs, an epoch, a count.

    Within one epoch of one chain (a first run and the runs it continued as new into) the
    transcript only grows, so ``known`` messages name one prefix. A transcript that loses
    messages (a refused run is removed) starts a new epoch.
    """

    model_config = ConfigDict(frozen=True)

    chain: str = ""
    """The first run id of the conversation's chain of runs; empty in a call that run scheduled
    itself, whose run id the activity has (`for_run`)."""
    epoch: int = 0
    known: int
    answer: str = ""
    """The digest of message ``known - 1`` (`message_digest`) when the workflow never sent it:
    the model's answer, which the worker that ran the model call keeps
    (`TranscriptCache.answered`). A worker's copy of an answer is used only if it has this
    digest; another attempt of the same call may have answered otherwise."""

    def for_run(self, run_id: str) -> TranscriptRef:
        """This reference, its chain named: ``run_id`` scheduled the call (see ``chain``)."""
        return self if self.chain else self.model_copy(update={"chain": run_id})


class ModelContext(BaseModel):
    """The ``model_context`` query's answer: the transcript and the epoch it belongs to."""

    model_config = ConfigDict(frozen=True)

    chain: str
    epoch: int
    messages: tuple[Message, ...]


_MESSAGE = TypeAdapter(Message)


def message_digest(message: Message) -> str:
    """A digest of ``message``'s JSON, short: what names a model's answer that was not sent."""
    return hashlib.sha256(_MESSAGE.dump_json(message)).hexdigest()[:16]


class TranscriptCursor:
    """Workflow side: which messages the workers already have, so each call sends the rest.

    The loop only appends to the transcript or removes its tail; the cursor notices a removal
    by the identity of the last message it sent.
    """

    def __init__(self, chain: str, messages: Sequence[Message], epoch: int = 0) -> None:
        self.chain = chain
        self.epoch = epoch
        self._sent = len(messages)
        self._last = messages[-1] if messages else None
        self._answer: tuple[int, str] | None = None
        """The index and digest of the model's answer that was counted as sent (`answered`)."""

    def split(self, messages: Sequence[Message]) -> tuple[TranscriptRef, tuple[Message, ...]]:
        """The reference to what was sent before, and the messages to send now."""
        known = self._known(messages)
        self._sent = len(messages)
        self._last = messages[-1] if messages else None
        return self._ref(known), tuple(messages[known:])

    def peek(self, messages: Sequence[Message]) -> tuple[TranscriptRef, tuple[Message, ...]]:
        """Like `split`, for a call that leaves the workers' transcripts as they were."""
        known = self._known(messages)
        return self._ref(known), tuple(messages[known:])

    def answered(self, messages: Sequence[Message], answer: Message) -> None:
        """Count the model's ``answer`` as sent, if the loop added it to ``messages`` as it came.

        The worker that ran the model call keeps it (`TranscriptCache.answered`), so the calls
        that follow name it by its digest instead of sending it: with ``answer`` the only
        message after those the call was sent, and the same.
        """
        sent = self._sent
        if (
            len(messages) == sent + 1
            and messages[-1] == answer
            and (not sent or messages[sent - 1] is self._last)
        ):
            self._sent, self._last = sent + 1, messages[-1]
            self._answer = (sent, message_digest(answer))

    def _ref(self, known: int) -> TranscriptRef:
        answer = self._answer
        digest = answer[1] if answer is not None and answer[0] == known - 1 else ""
        return TranscriptRef(chain=self.chain, epoch=self.epoch, known=known, answer=digest)

    def carried_epoch(self, messages: Sequence[Message]) -> int:
        """The epoch to carry into the next run, which starts out knowing all of ``messages``."""
        self._known(messages)
        return self.epoch

    def _known(self, messages: Sequence[Message]) -> int:
        known = self._sent
        if not _grown_from(messages, known, self._last):
            self.epoch += 1
            known = self._sent = 0
            self._last = None
            self._answer = None
        return known

    def restart(self) -> None:
        """Start a new epoch: messages already sent were rewritten (`elided`)."""
        self.epoch += 1
        self._sent = 0
        self._last = None
        self._answer = None

    def context(self, messages: Sequence[Message]) -> ModelContext:
        return ModelContext(chain=self.chain, epoch=self.epoch, messages=tuple(messages))


def _grown_from(messages: Sequence[Message], count: int, last: Message | None) -> bool:
    """Whether ``messages`` still start with the ``count`` seen before, ``last`` the last of them.

    The loop only appends to the transcript or removes its tail: a removal shows as fewer
    messages, or as another message where the last one seen was (held, so never another's id).
    """
    return not count or (len(messages) >= count and messages[count - 1] is last)


class StaleTranscript(Exception):
    """The workflow's transcript is no longer the one a model call was scheduled with."""


class _Kept(NamedTuple):
    """One conversation's transcript as a `TranscriptCache` keeps it."""

    chain: str
    epoch: int
    messages: tuple[Message, ...]
    sizes: tuple[int, ...]
    """The content bytes of the messages up to and including each."""
    sent: int
    """How many of the messages the workflow sent: the rest is a model's answer."""


class TranscriptCache:
    """Activity side: the latest transcript of recently served conversations, bounded.

    Bounded twice, least recently used out first: at most ``size`` conversations, and at most
    ``max_bytes`` of their content (text, tool arguments, attachments' base64, as
    `content_bytes` counts them; Python's own per-object overhead comes on top). A
    transcript bigger than ``max_bytes`` alone is not kept: its next call asks the workflow.
    """

    def __init__(
        self,
        size: int = DEFAULT_CACHED_TRANSCRIPTS,
        max_bytes: int = DEFAULT_CACHED_TRANSCRIPT_BYTES,
    ) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Kept] = OrderedDict()
        self.bytes = 0
        """The content bytes of every transcript kept."""
        self.hits = 0
        self.misses = 0

    def prefix(self, conversation_id: str, ref: TranscriptRef) -> tuple[Message, ...] | None:
        """The ``ref.known`` messages before a call, if this process has them."""
        if ref.known == 0:
            return ()
        entry = self._entries.get(conversation_id)
        if (
            entry is None
            or (entry.chain, entry.epoch) != (ref.chain, ref.epoch)
            or len(entry.messages) < ref.known
            or (ref.known > entry.sent and not _answers(ref, entry.messages, entry.sent))
        ):
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(conversation_id)
        return entry.messages[: ref.known]

    def answered(
        self,
        conversation_id: str,
        ref: TranscriptRef,
        messages: tuple[Message, ...],
        answer: Message,
    ) -> None:
        """Keep the model's ``answer`` after the transcript it was given (``ref`` named it).

        The workflow names it by its digest when it counts on it (`TranscriptRef.answer`).
        """
        self.store(conversation_id, ref, (*messages, answer), sent=len(messages))

    def store(
        self,
        conversation_id: str,
        ref: TranscriptRef,
        messages: tuple[Message, ...],
        *,
        sent: int | None = None,
    ) -> None:
        """Keep ``messages``, the transcript as the workflow sent it but for any after ``sent``."""
        if self.size <= 0:
            return
        old = self._entries.pop(conversation_id, None)
        if old is not None:
            self.bytes -= old.sizes[-1] if old.sizes else 0
        # Within an epoch the transcript only grows: the known messages are counted already
        # (an answer kept unsent may have been another).
        reused = 0
        if old is not None and (old.chain, old.epoch) == (ref.chain, ref.epoch):
            reused = min(ref.known, old.sent, len(messages))
            # And the messages after them that are the very ones kept (the answer this worker
            # kept, put back before a tool call's): their size is known too.
            kept = min(len(old.messages), len(messages))
            while reused < kept and messages[reused] is old.messages[reused]:
                reused += 1
        total = old.sizes[reused - 1] if reused and old is not None else 0
        sizes = list(old.sizes[:reused]) if old is not None else []
        for message in messages[reused:]:
            total += content_bytes(message)
            sizes.append(total)
        if total > self.max_bytes:
            return
        verified = len(messages) if sent is None else sent
        self._entries[conversation_id] = _Kept(
            ref.chain, ref.epoch, messages, tuple(sizes), verified
        )
        self.bytes += total
        while len(self._entries) > self.size or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.sizes[-1] if evicted.sizes else 0

    def __len__(self) -> int:
        return len(self._entries)


def _answers(ref: TranscriptRef, messages: tuple[Message, ...], sent: int) -> bool:
    """Whether the one message kept after the ``sent`` ones is the answer ``ref`` names."""
    return (
        ref.known == sent + 1 and bool(ref.answer) and message_digest(messages[sent]) == ref.answer
    )


def content_bytes(value: object) -> int:
    """Roughly what ``value`` holds: the length of its strings, a few bytes for anything else.

    A cheap, linear walk over messages and blocks (dataclasses), tool arguments (dicts and
    lists) and scalars; a bound on memory, not an exact measure of it.
    """
    if isinstance(value, (str, bytes)):
        return len(value)
    # Loops rather than sum() over generators: this runs for every message a worker is sent.
    total = 8
    if isinstance(value, dict):
        for k, v in cast("dict[object, object]", value).items():
            total += content_bytes(k) + content_bytes(v)
    elif isinstance(value, (list, tuple)):
        for v in cast("Sequence[object]", value):
            total += content_bytes(v)
    else:
        for name in _field_names(type(value)):
            total += content_bytes(getattr(value, name))
    return total


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    """A dataclass's field names (none for any other type), looked up once per type."""
    names = _FIELD_NAMES.get(kind)
    if names is None:
        fields = dataclasses.fields(kind) if dataclasses.is_dataclass(kind) else ()
        names = tuple(f.name for f in fields)
        _FIELD_NAMES[kind] = names
    return names


def transcript_bytes(messages: Sequence[Message]) -> int:
    """The bytes of ``messages``' JSON as a list: ``len(to_json(list(messages)))``, by message.

    Each message's own JSON (`message_bytes`), a comma between two and the brackets: what
    `TranscriptSize` adds up a message at a time.
    """
    return _framed(sum(map(message_bytes, messages)), len(messages))


def message_bytes(message: Message) -> int:
    """The bytes of ``message``'s JSON."""
    return len(to_json(message))


def _framed(total: int, count: int) -> int:
    """The bytes of a JSON list of ``count`` items whose own JSON is ``total`` bytes."""
    return total + max(count - 1, 0) + 2


class TranscriptSize:
    """Workflow side: the JSON bytes of the loop's transcript, each message measured once.

    Before each model call the workflow asks whether the transcript is past the bound
    (`elided`); measuring all of it each time would cost a conversation of n steps n² work in
    the worker, and again on every replay. Like `TranscriptCursor`, this relies on the loop only
    appending to the transcript or removing its tail, and notices a removal by the identity of
    the last message it measured (then measures again, once); a rewrite that keeps the last
    message (`elided`) must `restart` it. Messages are frozen, so one that is still there has
    the size it had: the answer is ``transcript_bytes(messages)``, on replay as the first time.
    """

    def __init__(self) -> None:
        self._count = 0
        self._last: Message | None = None
        self._bytes = 0
        """The bytes of the first ``_count`` messages' own JSON."""

    def of(self, messages: Sequence[Message]) -> int:
        """``transcript_bytes(messages)``, measuring only the messages added since last asked."""
        count = self._count
        if not _grown_from(messages, count, self._last):
            count = self._bytes = 0
        for index in range(count, len(messages)):
            self._bytes += message_bytes(messages[index])
        self._count = len(messages)
        self._last = messages[-1] if messages else None
        return _framed(self._bytes, self._count)

    def restart(self) -> None:
        """Measure all of the transcript next time: messages already measured were rewritten."""
        self._count = self._bytes = 0
        self._last = None


def elided(
    messages: Sequence[Message], budget: int, keep: int, size: TranscriptSize | None = None
) -> list[Message] | None:
    """``messages`` within ``budget`` bytes of JSON, oldest large blocks elided; ``None``: it was.

    Old tool answers, attachments and long texts are replaced, oldest first, by a marker that
    says what was there and how to get it back, as an assistant's context manager does; the
    message at index ``keep`` (the current run's user message, which rules read) is left whole,
    and so is every block's structure (a tool answer stays the answer to its call). Why elide
    rather than refuse: each answer is bounded on its own (``MAX_RESULT_BYTES``), so a
    conversation goes past the bound only by adding to it, and the newest answers, which the
    model is working from, are the last to go; refusing would end a conversation the employee
    could otherwise carry on. Deterministic: the workflow runs it, and what it returns replays.
    The workflow passes its `TranscriptSize` (``size``), so that a transcript under the bound
    is not measured whole again before each model call.
    """
    total = transcript_bytes(messages) if size is None else size.of(messages)
    if total <= budget:
        return None
    out = list(messages)
    for index, message in enumerate(messages):
        if total <= budget:
            break
        if index == keep:
            continue
        content = list(message.content)
        was = message_bytes(message)
        for position, block in enumerate(content):
            shorter = _elided_block(block)
            if shorter is None:
                continue
            content[position] = shorter
            out[index] = dataclasses.replace(message, content=tuple(content))
            now = message_bytes(out[index])
            total += now - was
            was = now
            if total <= budget:
                break
    return out


def _elided_block(block: ContentBlock) -> ContentBlock | None:
    """``block`` with its bulk replaced by a marker, or ``None`` if it is small already."""
    if isinstance(block, ToolResultBlock):
        if len(block.content) <= ELIDE_ABOVE and not block.attachments:
            return None
        return dataclasses.replace(
            block,
            content=(
                f"[elided: {len(block.content):,} characters of this earlier tool answer"
                + (f" and {len(block.attachments)} attachment(s)" if block.attachments else "")
                + ", too much for the conversation to keep; call the tool again if you need it]"
            ),
            attachments=(),
        )
    if isinstance(block, ImageBlock | DocumentBlock):
        return TextBlock(text=f"[elided: an earlier {block.type} ({len(block.data):,} bytes)]")
    if isinstance(block, TextBlock) and len(block.text) > ELIDE_ABOVE:
        return TextBlock(
            text=block.text[: ELIDE_ABOVE // 2]
            + f" [elided: {len(block.text) - ELIDE_ABOVE // 2:,} more characters]"
        )
    return None


def known_prefix(context: ModelContext, ref: TranscriptRef) -> tuple[Message, ...]:
    """The messages ``ref`` names, from the workflow's answer; `StaleTranscript` if gone."""
    if (context.chain, context.epoch) != (ref.chain, ref.epoch) or len(
        context.messages
    ) < ref.known:
        raise StaleTranscript(
            f"the conversation's transcript changed since this model call was scheduled "
            f"(epoch {ref.epoch}, {ref.known} messages; now epoch {context.epoch}, "
            f"{len(context.messages)} messages)"
        )
    return context.messages[: ref.known]
