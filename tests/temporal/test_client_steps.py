"""Steps survive continue-as-new: ``AgentClient.steps`` pages back through earlier runs.

A conversation's run continues as new once it has added ``continue_as_new_after_messages``
messages, between turns or between two steps of one; each run answers the ``steps`` query for
its own steps only. The client follows the chain of runs
(each run's first event names the run it continued from and carries its first step index).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from agentflow import Agent, tool
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock
from agentflow.temporal import (
    AgentClient,
    AgentReply,
    DevServer,
    DurableOptions,
    Step,
    create_worker,
)
from agentflow.testing import FunctionModel, text_response, tool_call
from tests.audit.support import Bookings, travel_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

MESSAGE = "A flight to Geneva please"
# The planner searches and books in the first turn; later turns answer from the search alone.
FIRST = [
    "user_message",
    "model_call",
    "tool_call",
    "model_call",
    "tool_call",
    "model_call",
    "reply",
]
LATER = ["user_message", "model_call", "tool_call", "model_call", "reply"]


async def test_steps_page_back_across_continue_as_new(dev_server: DevServer) -> None:
    client = await dev_server.client()
    queue = f"steps-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    bookings = Bookings()
    async with create_worker(
        client, [agent], task_queue=queue, deps={agent.name: lambda: bookings}
    ):
        agents = AgentClient(client, task_queue=queue)
        # The first turn adds six messages, later ones four (three before their last model
        # call): the first run continues as new after the first turn, the second within the
        # third turn, before its last model call.
        conversation = await agents.start_conversation(
            agent.name, user="carol", options=DurableOptions(continue_as_new_after_messages=6)
        )
        for _ in range(3):
            assert (await agents.send(conversation, MESSAGE, sender="carol")).status == "completed"
        handle = client.get_workflow_handle(conversation)
        first = (await handle.describe()).run_id
        # Three runs: the latest answers for its own steps, the end of the third turn.
        own = await handle.query("steps", 0, result_type=list[Step])
        assert [(s.index, s.turn, s.kind) for s in own] == [(15, 3, "model_call"), (16, 3, "reply")]

        steps = await agents.steps(conversation)
        assert [s.index for s in steps] == list(range(17))
        assert [s.kind for s in steps] == FIRST + LATER * 2
        assert [s.turn for s in steps] == [1] * 7 + [2] * 5 + [3] * 5
        # From inside an earlier run, from a run's first step, past the end.
        assert [s.index for s in await agents.steps(conversation, 3)] == list(range(3, 17))
        assert [s.index for s in await agents.steps(conversation, 7)] == list(range(7, 17))
        assert [s.index for s in await agents.steps(conversation, 12)] == list(range(12, 17))
        assert await agents.steps(conversation, 17) == []
        assert await agents.steps(conversation, -5) == steps  # hostile: the same, no error

        # Streaming the next turns yields exactly their steps, numbered on from the last one;
        # the fifth starts as the run has added six messages, and goes on in the next run.
        for turn in (4, 5):
            streamed = [item async for item in agents.stream(conversation, MESSAGE, sender="carol")]
            *new, reply = streamed
            assert isinstance(reply, AgentReply) and reply.status == "completed"
            assert (reply.turn, reply.continued) == (turn, False)
            start = 17 + 5 * (turn - 4)
            assert [s.index for s in new if isinstance(s, Step)] == list(range(start, start + 5))
            assert [s.kind for s in new if isinstance(s, Step)] == LATER
        assert [s.index for s in await agents.steps(conversation)] == list(range(27))
        assert (await handle.describe()).run_id != first


async def test_a_stream_yields_the_steps_of_a_turn_that_continues_as_new(
    dev_server: DevServer,
) -> None:
    client = await dev_server.client()
    queue = f"steps-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    bookings = Bookings()
    async with create_worker(
        client, [agent], task_queue=queue, deps={agent.name: lambda: bookings}
    ):
        agents = AgentClient(client, task_queue=queue)
        # Five messages before the turn's last model call: the run continues as new there, and
        # a poll of the next run finds steps that start past the ones the stream has yielded.
        conversation = await agents.start_conversation(
            agent.name, user="carol", options=DurableOptions(continue_as_new_after_messages=4)
        )
        *streamed, reply = [
            item async for item in agents.stream(conversation, MESSAGE, sender="carol")
        ]
        assert isinstance(reply, AgentReply) and (reply.turn, reply.status) == (1, "completed")
        assert [s.index for s in streamed if isinstance(s, Step)] == list(range(7))
        assert [s.kind for s in streamed if isinstance(s, Step)] == FIRST
        assert [s.index for s in await agents.steps(conversation)] == list(range(7))


async def test_a_stream_that_polled_the_run_before_a_continue_as_new_yields_its_last_steps(
    dev_server: DevServer,
) -> None:
    """The stream polls the first run up to step 3; the run then records step 4 and continues as
    new in one workflow task, so a poll of the latest run finds step 5 first: only paging back
    yields step 4. Each lookup after the first waits until the stream has yielded the step before
    it, so the second run waits at step 5 until the stream has polled it. Polled once a second, so
    that no poll lands in the workflow task that records step 4 (answered with the state after it,
    from the first run): the stream then misses step 4 every time without paging back."""
    yielded = -1
    progressed = asyncio.Condition()

    async def yielded_up_to(index: int) -> None:
        async with progressed:
            await asyncio.wait_for(progressed.wait_for(lambda: yielded >= index), 30)

    @tool
    async def lookup(n: int) -> str:
        """Look something up (reads only)."""
        if n:
            await yielded_up_to(2 * n + 1)  # the model call that asked for it
        return f"result {n}"

    def model(request: ModelRequest) -> ModelResponse:
        done = sum(isinstance(b, ToolResultBlock) for m in request.messages for b in m.content)
        return tool_call("lookup", id=f"call-{done}", n=done) if done < 3 else text_response("ok")

    client = await dev_server.client()
    queue = f"steps-{uuid.uuid4().hex}"
    agent = Agent(FunctionModel(model), tools=[lookup], name=f"steps-{uuid.uuid4().hex[:8]}")
    async with create_worker(client, [agent], task_queue=queue):
        agents = AgentClient(client, task_queue=queue)
        # Five messages before the third model call: the run continues as new there.
        conversation = await agents.start_conversation(
            agent.name, user="carol", options=DurableOptions(continue_as_new_after_messages=4)
        )
        streamed: list[Step] = []
        async with asyncio.timeout(60):
            async for item in agents.stream(conversation, "go", sender="carol", poll_interval=1.0):
                if isinstance(item, Step):
                    streamed.append(item)
                    async with progressed:
                        yielded = item.index
                        progressed.notify_all()
                elif isinstance(item, AgentReply):
                    assert (item.status, item.output) == ("completed", "ok")
        # The second run holds steps 5 to 8 only.
        own = await client.get_workflow_handle(conversation).query(
            "steps", 0, result_type=list[Step]
        )
        assert [s.index for s in own] == [5, 6, 7, 8]
    assert [s.index for s in streamed] == list(range(9))
    assert [s.kind for s in streamed] == [
        "user_message",
        *["model_call", "tool_call"] * 3,
        "model_call",
        "reply",
    ]
