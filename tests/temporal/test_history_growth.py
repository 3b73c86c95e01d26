"""History grows with the conversation, not its square: what crosses into activities is bounded.

A model call, a tool call and an approval get only the messages added since the previous model
call (the worker puts the rest back, from its cache or by asking the conversation), so rules see
the whole transcript as in-process; a long turn continues as new between two steps.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from agentflow import Agent, Limits, NeedsApproval, RunContext, precondition, tool
from agentflow.messages import (
    ImageBlock,
    Message,
    ModelRequest,
    ModelResponse,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from agentflow.preconditions import Decision
from agentflow.temporal import AgentClient, DevServer, DurableOptions, create_worker
from agentflow.temporal.transcripts import (
    ModelContext,
    StaleTranscript,
    TranscriptCache,
    TranscriptCursor,
    TranscriptRef,
    content_bytes,
    known_prefix,
    message_digest,
)
from agentflow.testing import FunctionModel, text_response, tool_call
from bench.durable import growth

pytestmark = pytest.mark.asyncio(loop_scope="session")

RESULT_CHARS = 400
"""Each lookup's result: 30 of them make a transcript far bigger than any one input may be."""
INPUT_BOUND = 4096
"""What any activity input may hold here (a few small messages), at any step."""


def _user(text: str) -> Message:
    return Message(role="user", content=(TextBlock(text=text),))


def _latest_user_text(messages: tuple[Message, ...]) -> tuple[int, str]:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "user" and message.text:
            return index, message.text
    raise AssertionError("no user message")


def _script(request: ModelRequest) -> ModelResponse:
    """``steps N``: N lookups in one turn, then an answer; ``refuse`` refuses after two;
    ``approve``: one call that needs bob's approval after the lookups. Stateless."""
    index, said = _latest_user_text(request.messages)
    match = re.search(r"steps (\d+)", said)
    wanted = int(match.group(1)) if match else 0
    turn = sum(1 for m in request.messages if m.role == "user" and m.text)
    done = sum(
        1
        for m in request.messages[index + 1 :]
        for b in m.content
        if isinstance(b, ToolResultBlock)
    )
    if "refuse" in said and done >= 2:
        return ModelResponse(content=(), stop_reason="refusal")
    if done < wanted:
        return tool_call("lookup", id=f"t{turn}-{done}", n=done)
    if "approve" in said and done == wanted:
        return tool_call("sensitive", id=f"t{turn}-sensitive")
    return text_response(f"done {done}")


@tool
def lookup(n: int) -> str:
    """Look something up."""
    return f"result {n}: " + "x" * RESULT_CHARS


@precondition
def needs_bob(ctx: RunContext[None], args: Any) -> Decision:
    """Bob decides."""
    return NeedsApproval("bob decides", approvers=["bob"])


@tool(requires=needs_bob, side_effects=True)
def sensitive() -> str:
    """Do something that needs approval."""
    return "did it"


def _agent(name: str) -> Agent[None]:
    return Agent(
        FunctionModel(_script),
        tools=[lookup, sensitive],
        system="You look things up.",
        limits=Limits(max_steps=100),
        name=name,
    )


@dataclass
class Env:
    client: Client
    agents: AgentClient
    agent: Agent[None]

    @property
    def model(self) -> FunctionModel:
        assert isinstance(self.agent.model, FunctionModel)
        return self.agent.model

    async def start(self, **options: Any) -> str:
        return await self.agents.start_conversation(
            self.agent.name, user="alice", options=DurableOptions(**options)
        )

    async def events(self, conversation: str, run_id: str | None = None) -> list[HistoryEvent]:
        handle = self.client.get_workflow_handle(conversation, run_id=run_id)
        return [e async for e in handle.fetch_history_events()]

    async def runs(self, conversation: str) -> list[str]:
        """The conversation's runs, first to last."""
        run_id: str | None = (await self.client.get_workflow_handle(conversation).describe()).run_id
        chain: list[str] = []
        while run_id:
            chain.insert(0, run_id)
            first = (await self.events(conversation, run_id))[0]
            started = first.workflow_execution_started_event_attributes
            run_id = started.continued_execution_run_id or None
        return chain


async def _env(dev_server: DevServer, cached_transcripts: int) -> AsyncIterator[Env]:
    client = await dev_server.client()
    queue = f"growth-{uuid.uuid4().hex}"
    agent = _agent(f"growth-{uuid.uuid4().hex[:8]}")
    async with create_worker(
        client, [agent], task_queue=queue, cached_transcripts=cached_transcripts
    ):
        yield Env(client, AgentClient(client, task_queue=queue), agent)


@pytest_asyncio.fixture(loop_scope="session", params=[256, 0], ids=["cached", "asks-workflow"])
async def env(dev_server: DevServer, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    async for made in _env(dev_server, request.param):
        yield made


def _input_bytes(event: HistoryEvent) -> tuple[str, int] | None:
    if event.HasField("activity_task_scheduled_event_attributes"):
        scheduled = event.activity_task_scheduled_event_attributes
        return scheduled.activity_type.name, sum(len(p.data) for p in scheduled.input.payloads)
    if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
        child = event.start_child_workflow_execution_initiated_event_attributes
        return child.workflow_type.name, sum(len(p.data) for p in child.input.payloads)
    return None


async def test_no_activity_or_child_input_grows_with_the_conversation(env: Env) -> None:
    conversation = await env.start()
    reply = await env.agents.send(conversation, "steps 30 then approve", sender="alice")
    assert reply.status == "awaiting_approval"

    transcript = await env.agents.transcript(conversation)
    assert sum(len(str(m)) for m in transcript.messages) > 30 * RESULT_CHARS
    inputs = [i for e in await env.events(conversation) if (i := _input_bytes(e))]
    kinds = {name for name, _ in inputs}
    assert kinds == {"agentflow.model_call", "agentflow.tool_call", "ApprovalWorkflow"}
    assert len(inputs) == 31 + 31 + 1  # the approval-needing call is a tool call too
    assert max(size for _, size in inputs) < INPUT_BOUND, inputs


async def test_each_model_call_sees_the_whole_transcript(env: Env) -> None:
    conversation = await env.start()
    assert (await env.agents.send(conversation, "steps 3", sender="alice")).output == "done 3"
    # A refused run is taken out of the transcript: the next calls must not see it.
    assert (await env.agents.send(conversation, "steps 3 refuse", sender="alice")).status == (
        "refused"
    )
    before = len(env.model.requests)
    assert (await env.agents.send(conversation, "steps 2", sender="alice")).output == "done 2"

    transcript = (await env.agents.transcript(conversation)).messages
    requests = env.model.requests[before:]
    assert [r.messages for r in requests] == [transcript[: len(r.messages)] for r in requests]
    assert requests[-1].messages == transcript[:-1]
    assert not any("refuse" in m.text for r in requests for m in r.messages)
    definitions = tuple(t.definition for t in env.agent.tools.values())
    assert all((r.system, r.tools) == (env.agent.system, definitions) for r in env.model.requests)


async def test_a_long_turn_continues_as_new_between_steps(env: Env) -> None:
    conversation = await env.start(continue_as_new_after_messages=8)
    long_turn = asyncio.create_task(env.agents.send(conversation, "steps 20", sender="alice"))
    await asyncio.sleep(0.3)
    # A message queued behind the long turn is handed over with it.
    queued = await env.agents.send(conversation, "steps 1", sender="alice")
    first = await long_turn

    assert (first.turn, first.status, first.output, first.continued) == (
        1,
        "completed",
        "done 20",
        False,
    )
    assert (queued.turn, queued.output, queued.continued) == (2, "done 1", False)
    runs = await env.runs(conversation)
    assert len(runs) >= 5
    for run_id in runs:
        assert len(await env.events(conversation, run_id)) < 80
    transcript = (await env.agents.transcript(conversation)).messages
    assert len(transcript) == (1 + 20 * 2 + 1) + (1 + 2 + 1)
    steps = await env.agents.steps(conversation)
    assert [s.index for s in steps] == list(range(len(steps)))
    assert [s.kind for s in steps].count("tool_call") == 21
    assert [s.turn for s in steps if s.kind == "reply"] == [1, 2]
    assert await env.agents.wait_for_turn(conversation, 1) == first


async def test_tools_and_edits_see_the_whole_transcript_as_in_process(env: Env) -> None:
    seen: list[tuple[Message, ...]] = []

    @tool(name="lookup")
    def recording_lookup(ctx: RunContext[None], n: int) -> str:
        """Look something up."""
        seen.append(tuple(ctx.messages))
        return f"result {n}"

    @precondition
    def bob_or_no_review(ctx: RunContext[None], args: Any) -> Decision:
        """Bob decides; an edit is checked against the transcript."""
        seen.append(tuple(ctx.messages))
        return NeedsApproval("bob decides", approvers=["bob"])

    @tool(name="sensitive", requires=bob_or_no_review, side_effects=True)
    def editable(level: int = 0) -> str:
        """Do something that needs approval."""
        return f"did it at {level}"

    agent = Agent(
        FunctionModel(_script),
        tools=[recording_lookup, editable],
        name=f"window-{uuid.uuid4().hex[:8]}",
    )
    paused = await agent.run("steps 5 then approve")
    in_process, seen[:] = list(seen), []
    queue = f"window-{uuid.uuid4().hex}"
    async with create_worker(env.client, [agent], task_queue=queue):
        agents = AgentClient(env.client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, "steps 5 then approve", sender="alice")
    assert reply.status == paused.status == "awaiting_approval"
    assert [len(m) for m in in_process] == [2, 4, 6, 8, 10, 12]
    assert seen == in_process


async def test_the_cursor_names_only_what_the_workers_have() -> None:
    a, b, c, d = (_user(x) for x in "abcd")
    cursor = TranscriptCursor("chain", ())
    ref, new = cursor.split([a, b])
    assert (ref.chain, ref.epoch, ref.known, new) == ("chain", 0, 0, (a, b))
    ref, new = cursor.split([a, b, c])
    assert (ref.epoch, ref.known, new) == (0, 2, (c,))
    # The tail was removed and the transcript grew back past it: a new epoch, sent whole.
    ref, new = cursor.split([a, b, d])
    assert (ref.epoch, ref.known, new) == (1, 0, (a, b, d))
    # Removed and grown back between the last call and a continue-as-new: the next run's
    # epoch is new too, so no worker's older transcript is taken for it.
    assert cursor.carried_epoch([a, c]) == 2
    assert cursor.carried_epoch([a, c]) == 2


async def test_a_cached_or_answered_transcript_is_used_only_for_its_own_epoch() -> None:
    a, b, c = (_user(x) for x in "abc")
    cursor = TranscriptCursor("chain", ())
    ref, _ = cursor.split([a, b])
    cache = TranscriptCache(size=1)
    cache.store("conv", ref, (a, b))
    later, _ = cursor.split([a, b, c])
    assert cache.prefix("conv", later) == (a, b)
    assert cache.prefix("conv", later.model_copy(update={"epoch": 1})) is None
    assert cache.prefix("conv", later.model_copy(update={"chain": "other"})) is None
    assert cache.prefix("other", later) is None
    cache.store("other", later, (a, b, c))
    assert cache.prefix("conv", later) is None  # bounded: the least recent went out
    assert known_prefix(ModelContext(chain="chain", epoch=0, messages=(a, b, c)), later) == (a, b)
    with pytest.raises(StaleTranscript):
        known_prefix(ModelContext(chain="chain", epoch=1, messages=(a, b, c)), later)
    with pytest.raises(StaleTranscript):
        known_prefix(ModelContext(chain="chain", epoch=0, messages=(a,)), later)


async def test_cached_transcripts_are_bounded_by_their_content_not_only_their_count() -> None:
    # A conversation of big messages (a pasted document, attachments): by count alone, the
    # default cache would keep 256 of them.
    big = _user("x" * 1024 * 1024)
    cache = TranscriptCache()
    for i in range(100):
        cursor = TranscriptCursor(f"chain-{i}", ())
        ref, _ = cursor.split([big])
        cache.store(f"conv-{i}", ref, (big,))
    assert 0 < len(cache) <= 64
    assert cache.prefix("conv-99", TranscriptRef(chain="chain-99", epoch=0, known=1)) == (big,)
    assert cache.prefix("conv-0", TranscriptRef(chain="chain-0", epoch=0, known=1)) is None


async def test_a_growing_transcript_is_counted_once_and_one_too_big_is_not_kept() -> None:
    a, b, c = (_user(x * 300) for x in "abc")
    each = content_bytes(a)
    cache = TranscriptCache(size=10, max_bytes=4 * each)
    cursor = TranscriptCursor("chain", ())
    transcript: list[Message] = []
    for message in (a, b, c):
        transcript.append(message)
        ref, _ = cursor.split(transcript)
        prefix = cache.prefix("conv", ref)
        assert prefix == tuple(transcript[: ref.known])
        cache.store("conv", ref, tuple(transcript))
    assert cache.bytes == 3 * each  # the earlier versions of the same transcript are gone
    other = TranscriptCursor("other", ())
    ref, _ = other.split([a, b])
    cache.store("other", ref, (a, b))  # 5 messages' worth: the least recent goes out
    assert (len(cache), cache.bytes) == (1, 2 * each)
    huge = TranscriptCursor("huge", ())
    ref, _ = huge.split([a, b, c, a, b])
    cache.store("huge", ref, (a, b, c, a, b))  # bigger than the whole bound: not kept
    assert (len(cache), cache.bytes) == (1, 2 * each)
    assert cache.prefix("huge", TranscriptRef(chain="huge", epoch=0, known=5)) is None


async def test_a_message_s_content_is_counted_as_its_strings_and_eight_bytes_for_the_rest() -> None:
    # 8 for the message, the content tuple and the block; "user", "text" and "abc".
    assert content_bytes(_user("abc")) == 8 + 4 + 8 + 8 + 4 + 3
    # 8 for the block, "tool_use", "c", "n"; the dict 8, "k", the list 8 + 8 (1) + 2, 8 (2),
    # 8 (None).
    call = ToolUseBlock(id="c", name="n", input={"k": [1, "ab"], 2: None})
    assert content_bytes(call) == 8 + 8 + 1 + 1 + (8 + 1 + (8 + 8 + 2) + 8 + 8)
    image = ImageBlock(media_type="image/png", data="AAAA")
    result = ToolResultBlock(tool_use_id="c", content="é", attachments=(image,))
    # "tool_result", "c", "é" (characters), 8 (False), the attachments' tuple and the image.
    assert content_bytes(result) == 8 + 11 + 1 + 1 + 8 + (8 + (8 + 5 + 9 + 4))


def _answer(text: str) -> Message:
    return Message(role="assistant", content=(TextBlock(text=text),))


async def test_a_model_s_answer_is_named_by_its_digest_only_as_the_loop_kept_it() -> None:
    a, b = _user("a"), _answer("b")
    cursor = TranscriptCursor("chain", ())
    cursor.split([a])
    cursor.answered([a, b], b)
    ref, new = cursor.peek([a, b])
    assert (ref.known, ref.answer, new) == (2, message_digest(b), ())
    c = _user("c")
    ref, new = cursor.split([a, b, c])
    assert (ref.known, ref.answer, new) == (2, message_digest(b), (c,))
    ref, _ = cursor.split([a, b, c, _answer("d")])
    assert (ref.known, ref.answer) == (3, "")  # the workers were sent c: no digest needed
    # The loop kept something else than the model said (it dropped a malformed call): sent.
    other = TranscriptCursor("chain", ())
    other.split([a])
    other.answered([a, _answer("b, cleaned")], b)
    ref, new = other.peek([a, _answer("b, cleaned")])
    assert (ref.known, ref.answer, new) == (1, "", (_answer("b, cleaned"),))


async def test_a_kept_answer_is_used_only_under_its_digest() -> None:
    a, b = _user("a"), _answer("b")
    cache = TranscriptCache(size=4)
    ref = TranscriptRef(chain="chain", known=0)
    cache.answered("conv", ref, (a,), b)
    named = TranscriptRef(chain="chain", known=2, answer=message_digest(b))
    assert cache.prefix("conv", named) == (a, b)
    # Another attempt of the call answered otherwise, and the workflow kept that answer.
    stale = named.model_copy(update={"answer": message_digest(_answer("x"))})
    assert cache.prefix("conv", stale) is None
    assert cache.prefix("conv", named.model_copy(update={"answer": ""})) is None
    assert cache.prefix("conv", TranscriptRef(chain="chain", known=1)) == (a,)
    # Sent by the workflow, the answer is the workflow's: no digest needed.
    cache.store("conv", TranscriptRef(chain="chain", known=1), (a, b))
    assert cache.prefix("conv", TranscriptRef(chain="chain", known=2)) == (a, b)


HISTORY_BOUND = 1.75
"""A conversation's history against the bare-Temporal floor's, within one run: measured 1.55 at
7 steps (1.64 closed once idle, with a workflow task or two more than the floor's by chance),
1.42 at 51 (1.44); 2.12 (2.63) and 1.96 (2.24) before the converter left defaults out, the close
left its state out and the calls left out what their workers have."""


async def test_a_conversation_s_history_stays_within_a_bound_of_the_floor_s(
    dev_server: DevServer,
) -> None:
    # 7 and 51 steps: one turn of 3 and 25 tool calls, as the growth bench measures them, each
    # left open and closed once idle, against the bare workflow
    # running the same activities with a step counter as their only input.
    rows = await growth.measure(dev_server.address, (3, 25))
    for row in rows:
        floor = row["floor"]["bytes"]
        for variant in ("agentflow", "agentflow_closed"):
            ratio = row[variant]["bytes"] / floor
            assert ratio <= HISTORY_BOUND, (row["steps"], variant, round(ratio, 2), row)
