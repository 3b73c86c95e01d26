"""A conversation whose transcript grows past what Temporal carries in one payload still answers.

Temporal refuses a payload over 2 MiB by default. Each tool answer is bounded on its own
(`agentflow.temporal.activities.MAX_RESULT_BYTES`), but several answers just under that bound,
over several turns or in one, make a transcript no payload can carry; and the whole transcript
crosses in a few places: the input a run continues as new with, the input an idle conversation
is reopened with, the ``model_context`` query a worker without the transcript asks, and the
model call after any of those. Each test grows a transcript past the limit and then sends the
next message, which must be answered, on the real dev server.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from pydantic_core import to_json
from temporalio.client import Client, WorkflowExecutionStatus

from agentflow import Agent, RunContext, tool
from agentflow.messages import (
    ImageBlock,
    Message,
    ModelRequest,
    ModelResponse,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from agentflow.temporal import AgentClient, DevServer, DurableOptions, create_worker
from agentflow.temporal.activities import MAX_RESULT_BYTES, MAX_TRANSCRIPT_BYTES
from agentflow.temporal.transcripts import TranscriptSize, elided
from agentflow.testing import FunctionModel, text_response, tool_calls

pytestmark = pytest.mark.asyncio(loop_scope="session")

PART = 1_200_000
"""Characters in one part of the manual: under the bound for one answer, two are over 2 MiB."""
assert PART * 2 > 2 * 1024 * 1024 > PART < MAX_RESULT_BYTES


@tool
def manual(ctx: RunContext[None], part: int) -> str:
    """One part of the travel manual (reads only): a long answer."""
    return f"Part {part}. " + "x" * PART


def plan(request: ModelRequest) -> ModelResponse:
    """``read 1`` (or ``read 1 2 3``, one call each, in one step) reads parts; else echoes."""
    last = request.messages[-1]
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    if results:
        read = [_seen(r) for r in results]
        return text_response(f"read {', '.join(read)}")
    text = next(b.text for b in last.content if isinstance(b, TextBlock))
    words = text.split()
    if words[0] != "read":
        seen = sum(len(m.content) for m in request.messages)
        return text_response(f"You said: {text} ({len(request.messages)} messages, {seen})")
    turn = sum(1 for m in request.messages if m.role == "user" and m.text)
    return tool_calls(*(("manual", {"part": int(p)}, f"call-{turn}-{p}") for p in words[1:]))


def _seen(result: ToolResultBlock) -> str:
    if result.content.startswith("Part "):
        return result.content.split(".")[0]
    return "elided" if result.content.startswith("[elided: ") else result.content[:80]


def make_agent() -> Agent[None]:
    return Agent(
        FunctionModel(plan),
        tools=[manual],
        system="You read manuals.",
        name=f"big-{uuid.uuid4().hex[:8]}",
    )


async def _say(agents: AgentClient, conversation: str, text: str) -> str:
    async with asyncio.timeout(90):
        reply = await agents.send(conversation, text, sender="alice")
    assert reply.status == "completed", (reply.status, reply.output[:300])
    return reply.output


async def _conversation(
    client: Client, agent: Agent[None], queue: str, options: DurableOptions
) -> tuple[AgentClient, str]:
    agents = AgentClient(client, task_queue=queue)
    return agents, await agents.start_conversation(agent.name, user="alice", options=options)


@pytest.mark.parametrize("per_turn", [1, 3], ids=["across-turns", "one-turn"])
async def test_a_transcript_past_the_payload_limit_continues_as_new_and_answers(
    dev_server: DevServer, per_turn: int
) -> None:
    client = await dev_server.client()
    queue = f"big-{uuid.uuid4().hex}"
    agent = make_agent()
    options = DurableOptions(continue_as_new_after_messages=4)
    async with create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: None}):
        agents, conversation = await _conversation(client, agent, queue, options)
        turns = 3 if per_turn == 1 else 2
        parts = [list(range(t * per_turn + 1, (t + 1) * per_turn + 1)) for t in range(turns)]
        for read in parts:
            output = await _say(agents, conversation, "read " + " ".join(map(str, read)))
            # Three answers of one step are past the bound together: the model has the newest
            # whole and a marker in place of each of the others.
            seen = ["elided"] * (per_turn - 1) + [f"Part {read[-1]}"]
            assert output == "read " + ", ".join(seen)
        assert (await _say(agents, conversation, "hello")).startswith("You said: hello")
        transcript = await agents.transcript(conversation)
    said = [m.text for m in transcript.messages if m.role == "user" and m.text]
    assert said[-1] == "hello" and len(said) == len(parts) + 1
    kept = [
        b.content.split(".")[0]
        for m in transcript.messages
        for b in m.content
        if isinstance(b, ToolResultBlock) and b.content.startswith("Part ")
    ]
    assert kept == [f"Part {parts[-1][-1]}"], kept


async def test_a_worker_without_the_transcript_asks_for_one_past_the_payload_limit(
    dev_server: DevServer,
) -> None:
    """A restarted worker has no transcript cached: the ``model_context`` query carries it."""
    client = await dev_server.client()
    queue = f"big-{uuid.uuid4().hex}"
    agent = make_agent()
    deps = {agent.name: lambda: None}
    async with create_worker(client, [agent], task_queue=queue, deps=deps):
        agents, conversation = await _conversation(client, agent, queue, DurableOptions())
        for part in (1, 2):
            assert await _say(agents, conversation, f"read {part}") == f"read Part {part}"
    async with create_worker(client, [agent], task_queue=queue, deps=deps):
        # Two turns of four messages each, then this one: the model has them all.
        assert (await _say(agents, conversation, "hello")).startswith("You said: hello (9 messages")


async def test_an_idle_conversation_past_the_payload_limit_closes_and_reopens(
    dev_server: DevServer,
) -> None:
    client = await dev_server.client()
    queue = f"big-{uuid.uuid4().hex}"
    agent = make_agent()
    options = DurableOptions(idle_timeout=timedelta(seconds=1))
    async with create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: None}):
        agents, conversation = await _conversation(client, agent, queue, options)
        for part in (1, 2):
            assert await _say(agents, conversation, f"read {part}") == f"read Part {part}"
        handle = client.get_workflow_handle(conversation)
        async with asyncio.timeout(30):
            while (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
                await asyncio.sleep(0.2)
        assert (await _say(agents, conversation, "hello")).startswith("You said: hello")


async def test_elision_takes_the_oldest_bulk_first_and_keeps_the_current_message() -> None:
    image = ImageBlock(media_type="image/png", data="A" * 50_000)
    messages = [
        Message(role="user", content=(TextBlock(text="look"), image)),
        Message(role="assistant", content=(ToolUseBlock(id="c1", name="manual", input={}),)),
        Message(role="user", content=(ToolResultBlock(tool_use_id="c1", content="y" * 50_000),)),
        Message(role="user", content=(TextBlock(text="z" * 50_000),)),
        Message(role="user", content=(ToolResultBlock(tool_use_id="c2", content="w" * 50_000),)),
    ]
    assert elided(messages, 300_000, keep=3) is None
    out = elided(messages, 120_000, keep=3)
    assert out is not None and len(to_json(out)) <= 120_000
    assert out[0].content[1] == TextBlock(text="[elided: an earlier image (50,000 bytes)]")
    assert out[1] is messages[1]
    (answer,) = out[2].content
    assert isinstance(answer, ToolResultBlock) and answer.tool_use_id == "c1"
    assert answer.content.startswith("[elided: 50,000 characters of this earlier tool answer")
    assert out[3:] == messages[3:]  # the current message, and the newest answer once it fits


async def test_the_workflow_s_measure_stays_exact_across_an_elision(
    dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The elided transcript keeps its last message: the workflow must measure it again."""
    checked: list[tuple[int, int]] = []
    measure = TranscriptSize.of

    def of(self: TranscriptSize, messages: list[Message]) -> int:
        checked.append((measure(self, messages), len(to_json(messages))))
        return checked[-1][0]

    monkeypatch.setattr(TranscriptSize, "of", of)
    client = await dev_server.client()
    queue = f"size-{uuid.uuid4().hex}"
    agent = make_agent()
    async with create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: None}):
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="alice")
        for part in (1, 2, 3):
            assert await _say(agents, conversation, f"read {part}") == f"read Part {part}"
        assert (await _say(agents, conversation, "hello")).startswith("You said: hello")
    assert len(checked) >= 7  # before each model call; more if the workflow was replayed
    assert any(whole > MAX_TRANSCRIPT_BYTES for _, whole in checked)  # elided twice
    assert all(measured == whole for measured, whole in checked), checked
