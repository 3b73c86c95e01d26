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
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from agentflow.messages import Message

MODEL_CONTEXT_QUERY = "model_context"
DEFAULT_CACHED_TRANSCRIPTS = 256


class TranscriptRef(BaseModel):
    """The messages before a model call's own, by name: a chain of runs, an epoch, a count.

    Within one epoch of one chain (a first run and the runs it continued as new into) the
    transcript only grows, so ``known`` messages name one prefix. A transcript that loses
    messages (a refused run is removed) starts a new epoch.
    """

    model_config = ConfigDict(frozen=True)

    chain: str
    """The first run id of the conversation's chain of runs."""
    epoch: int
    known: int


class ModelContext(BaseModel):
    """The ``model_context`` query's answer: the transcript and the epoch it belongs to."""

    model_config = ConfigDict(frozen=True)

    chain: str
    epoch: int
    messages: tuple[Message, ...]


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

    def split(self, messages: Sequence[Message]) -> tuple[TranscriptRef, tuple[Message, ...]]:
        """The reference to what was sent before, and the messages to send now."""
        known = self._known(messages)
        self._sent = len(messages)
        self._last = messages[-1] if messages else None
        return TranscriptRef(chain=self.chain, epoch=self.epoch, known=known), tuple(
            messages[known:]
        )

    def peek(self, messages: Sequence[Message]) -> tuple[TranscriptRef, tuple[Message, ...]]:
        """Like `split`, for a call that leaves the workers' transcripts as they were."""
        known = self._known(messages)
        return TranscriptRef(chain=self.chain, epoch=self.epoch, known=known), tuple(
            messages[known:]
        )

    def carried_epoch(self, messages: Sequence[Message]) -> int:
        """The epoch to carry into the next run, which starts out knowing all of ``messages``."""
        self._known(messages)
        return self.epoch

    def _known(self, messages: Sequence[Message]) -> int:
        known = self._sent
        if known and (len(messages) < known or messages[known - 1] is not self._last):
            self.epoch += 1
            known = self._sent = 0
            self._last = None
        return known

    def context(self, messages: Sequence[Message]) -> ModelContext:
        return ModelContext(chain=self.chain, epoch=self.epoch, messages=tuple(messages))


class StaleTranscript(Exception):
    """The workflow's transcript is no longer the one a model call was scheduled with."""


class TranscriptCache:
    """Activity side: the latest transcript of recently served conversations, bounded."""

    def __init__(self, size: int = DEFAULT_CACHED_TRANSCRIPTS) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[str, int, tuple[Message, ...]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def prefix(self, conversation_id: str, ref: TranscriptRef) -> tuple[Message, ...] | None:
        """The ``ref.known`` messages before a call, if this process has them."""
        if ref.known == 0:
            return ()
        entry = self._entries.get(conversation_id)
        if entry is None or entry[:2] != (ref.chain, ref.epoch) or len(entry[2]) < ref.known:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(conversation_id)
        return entry[2][: ref.known]

    def store(
        self, conversation_id: str, ref: TranscriptRef, messages: tuple[Message, ...]
    ) -> None:
        if self.size <= 0:
            return
        self._entries[conversation_id] = (ref.chain, ref.epoch, messages)
        self._entries.move_to_end(conversation_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


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
