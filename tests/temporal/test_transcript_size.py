"""The check before each model call measures only the messages added since the previous one.

The workflow keeps its transcript under `MAX_TRANSCRIPT_BYTES` of JSON (`elided`), asked before
every model call, and again on every replay: measuring the whole transcript each time costs a
conversation of n steps n² work in the worker. `TranscriptSize` adds it up a message at a time
and must say exactly what measuring it whole says, or a transcript would be elided (or kept)
otherwise than before.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic_core import to_json

from agentflow import Agent, Limits, tool
from agentflow.messages import (
    DocumentBlock,
    ImageBlock,
    Message,
    ModelRequest,
    ModelResponse,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from agentflow.temporal import AgentClient, DevServer, DurableOptions, create_worker, transcripts
from agentflow.temporal.activities import MAX_TRANSCRIPT_BYTES
from agentflow.temporal.transcripts import (
    TranscriptSize,
    elided,
    transcript_bytes,
)
from agentflow.testing import FunctionModel, text_response, tool_call

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _whole(messages: list[Message]) -> int:
    """What the check measured before: the transcript's JSON, encoded whole."""
    return len(to_json(list(messages)))


def _varied() -> list[Message]:
    image = ImageBlock(media_type="image/png", data="iVBORw0KGgo" * 300)
    pdf = DocumentBlock(data="JVBERi0x" * 200, title="Reçu — Zürich ✈")
    return [
        Message(role="user", content=(TextBlock(text="Book Zürich → Kraków, 2 nights 🏨"),)),
        Message(role="user", content=(TextBlock(text='quotes " \\ and\nnewlines\t\x01'), image)),
        Message(
            role="assistant",
            content=(
                ThinkingBlock(thinking="日本語の考え", signature="sig=="),
                RedactedThinkingBlock(data="opaque"),
                TextBlock(text=""),
                ToolUseBlock(
                    id="c1",
                    name="search",
                    input={"city": "Kraków", "n": 2, "x": 1.5, "tags": ["a", None, True], 3: {}},
                ),
                ToolUseBlock(id="c2", name="noop", input=None),
            ),
        ),
        Message(
            role="user",
            content=(
                ToolResultBlock(tool_use_id="c1", content="hôtel " * 500, attachments=(image, pdf)),
                ToolResultBlock(tool_use_id="c2", content="", is_error=True),
            ),
        ),
        Message(role="assistant", content=()),
        Message(role="user", content=(pdf, TextBlock(text="\u2028\u2029 \ud7ff \U0010ffff"))),
    ]


async def test_a_transcript_s_size_is_its_messages_json_and_the_list_s_brackets_and_commas() -> (
    None
):
    messages = _varied()
    size = TranscriptSize()
    for end in range(len(messages) + 1):
        prefix = messages[:end]
        assert transcript_bytes(prefix) == _whole(prefix), end
        assert TranscriptSize().of(prefix) == _whole(prefix), end
        assert size.of(prefix) == _whole(prefix), end  # grown a message at a time
    # The tail removed (a refused run), then grown back past where it was with other messages.
    transcript = messages[:3]
    assert size.of(transcript) == _whole(transcript)
    transcript += [messages[5], messages[1], messages[3]]
    assert size.of(transcript) == _whole(transcript)
    # Messages rewritten in place, the last one kept: measured again once told so.
    transcript[1] = messages[0]
    size.restart()
    assert size.of(transcript) == _whole(transcript)
    assert size.of([]) == _whole([]) == 2


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What the transcripts module encodes from now on, one entry per `to_json` call."""
    encoded: list[object] = []
    real: Callable[..., bytes] = to_json

    def counted(value: object, *args: Any, **kwargs: Any) -> bytes:
        encoded.append(value)
        return real(value, *args, **kwargs)

    monkeypatch.setattr(transcripts, "to_json", counted)
    return encoded


async def test_a_growing_transcript_is_measured_a_message_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = _varied() * 20
    encoded = _counting(monkeypatch)
    size = TranscriptSize()
    transcript: list[Message] = []
    for message in messages:
        transcript.append(message)
        assert elided(transcript, MAX_TRANSCRIPT_BYTES, keep=0, size=size) is None
        assert elided(transcript, MAX_TRANSCRIPT_BYTES, keep=0, size=size) is None
    assert len(encoded) == len(messages)  # each once, none twice, never the list
    assert all(a is b for a, b in zip(encoded, messages, strict=True))
    # A removal is noticed by the last message, and the rest measured again (once).
    encoded.clear()
    del transcript[-5:]
    transcript.append(_varied()[0])
    assert size.of(transcript) == _whole(transcript)
    assert len(encoded) == len(transcript)


async def test_elided_decides_as_it_did_when_it_measured_the_whole_transcript() -> None:
    messages = _varied()
    whole = _whole(messages)
    for budget in (whole + 1, whole, whole - 1, whole // 2, 3_000, 0):
        size = TranscriptSize()
        size.of(messages[:2])  # measured before, as the workflow does at each step
        assert elided(messages, budget, keep=1, size=size) == elided(messages, budget, keep=1)
    assert elided(messages, whole, keep=1, size=TranscriptSize()) is None
    assert elided(messages, whole - 1, keep=1, size=TranscriptSize()) is not None


def _steps(request: ModelRequest) -> ModelResponse:
    """``steps N``: N lookups in the turn, one at a time, then an answer."""
    said = next(m.text for m in reversed(request.messages) if m.role == "user" and m.text)
    wanted = int(said.split()[1])
    done = sum(1 for m in request.messages for b in m.content if isinstance(b, ToolResultBlock))
    if done < wanted:
        return tool_call("lookup", id=f"call-{done}", n=done)
    return text_response(f"done {done}")


@tool
def lookup(n: int) -> str:
    """Look something up (reads only)."""
    return f"result {n}: " + "é" * 300


async def test_a_long_conversation_s_workflow_measures_each_message_once(
    dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = 60
    encoded = _counting(monkeypatch)
    client = await dev_server.client()
    queue = f"size-{uuid.uuid4().hex}"
    agent = Agent(
        FunctionModel(_steps),
        tools=[lookup],
        limits=Limits(max_steps=steps + 5),
        name=f"size-{uuid.uuid4().hex[:8]}",
    )
    async with create_worker(client, [agent], task_queue=queue):
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(
            agent.name, user="alice", options=DurableOptions()
        )
        async with asyncio.timeout(120):
            reply = await agents.send(conversation, f"steps {steps}", sender="alice")
        assert reply.output == f"done {steps}"
        transcript = list((await agents.transcript(conversation)).messages)
    # Before each of the 61 model calls the workflow asked whether its transcript was past the
    # bound: measured whole each time, that is some 30 times the final transcript; measured a
    # message at a time, each message once (twice if the workflow was replayed once).
    measured = sum(len(to_json(value)) for value in encoded)
    assert len(transcript) == 2 * steps + 2
    assert measured <= 2 * _whole(transcript), (measured, _whole(transcript))
