"""A hostile model's huge tool argument costs its own conversation, not the worker's others.

Redaction once took time quadratic in a string's length: a 150,000-character tool argument
blocked a durable worker for 30 s, and other conversations on it failed with workflow-task
timeouts. Now one string is scanned up to the redactor's limit, in linear time. Here a model
sends a megabyte and a half as a tool's argument: the call is refused (arguments are bounded),
the model's answer is recorded cut at the limit, and a second conversation on the same worker
goes through all its turns meanwhile. On the quadratic code, recording that answer alone took
over an hour.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from agentflow import Agent, tool
from agentflow.audit import configure_tracing
from agentflow.audit.attributes import OUTPUT_MESSAGES
from agentflow.audit.redaction import DEFAULT_LIMIT
from agentflow.audit.store import AuditStore
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response, tool_call
from agentflow.tools import MAX_ARGUMENT_BYTES

pytestmark = pytest.mark.asyncio(loop_scope="session")

HUGE = 1_500_000
"""Characters of the hostile argument: under Temporal's 2 MB payload limit, far over the
redactor's 100,000-character one."""
ADDRESS_LIKE = "a.b_c%d+e-"
"""Characters an e-mail address may hold, with no @: the old pattern tried every start."""


@tool
def note(text: str) -> str:
    """Keep a note."""
    return f"kept {len(text)} characters"


def hostile(request: ModelRequest) -> ModelResponse:
    for block in request.messages[-1].content:
        if isinstance(block, ToolResultBlock):
            return text_response(str(block.content))
    return tool_call("note", {"text": ADDRESS_LIKE * (HUGE // len(ADDRESS_LIKE))})


async def test_a_megabyte_argument_does_not_stall_another_conversation(
    dev_server: DevServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    tracing = configure_tracing(database_url=url, otlp=False)
    suffix = uuid.uuid4().hex[:8]
    writer = Agent(FunctionModel(hostile), name=f"hostile-{suffix}", tools=[note])
    other = Agent(
        FunctionModel(lambda request: text_response(f"turn {len(request.messages)}")),
        name=f"other-{suffix}",
    )
    queue = f"redaction-{suffix}"
    client = await dev_server.client()
    try:
        async with create_worker(
            client, [writer, other], task_queue=queue, tracer_provider=tracing
        ):
            agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
            hostile_conversation = await agents.start_conversation(writer.name, user="mallory")
            quiet_conversation = await agents.start_conversation(other.name, user="alice")

            async def quiet_turns() -> list[str]:
                return [
                    (await agents.send(quiet_conversation, f"hello {n}", sender="alice")).output
                    for n in range(3)
                ]

            async with asyncio.timeout(240):
                hostile_reply, quiet_replies = await asyncio.gather(
                    agents.send(hostile_conversation, "take this note", sender="mallory"),
                    quiet_turns(),
                )
        assert f"exceed {MAX_ARGUMENT_BYTES} bytes" in hostile_reply.output
        assert quiet_replies == ["turn 1", "turn 3", "turn 5"]
    finally:
        tracing.shutdown()

    # The model's answer is in the trail, cut at the redactor's limit and saying so.
    store = AuditStore(url)
    try:
        spans = [stored.record for stored in store.records()]
    finally:
        store.dispose()
    answers = [
        str(span.attributes[OUTPUT_MESSAGES])
        for span in spans
        if "toolu_note" in str(span.attributes.get(OUTPUT_MESSAGES, ""))
    ]
    assert answers and "more characters not recorded" in answers[0]
    longest = max(len(str(value)) for span in spans for value in span.attributes.values())
    assert longest < 2 * DEFAULT_LIMIT
