"""A structured agent on Temporal: the answer is validated in the workflow and typed on arrival."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from agentflow import Agent, OutputUnavailable
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock
from agentflow.output import OUTPUT_TOOL
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel, tool_call
from tests.temporal.support import book_flight, bookings, engine_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Receipt(BaseModel):
    """What was booked."""

    flight_id: str
    price: float = Field(gt=0)


def plan(request: ModelRequest) -> ModelResponse:
    """Book, answer with a bad receipt, then a good one; ``never`` answers badly forever."""
    last = request.messages[-1]
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    if request.messages[0].text == "never":
        return tool_call(OUTPUT_TOOL, flight_id="LX14", price=-1)
    if not results:
        return tool_call("book_flight", flight_id="LX14", price=800.0, id="call-book")
    if results[0].tool_use_id == "call-book":
        return tool_call(OUTPUT_TOOL, flight_id="LX14", price=-1, id="answer-1")
    return tool_call(OUTPUT_TOOL, flight_id="LX14", price=800.0, id="answer-2")


async def test_a_durable_structured_answer_is_retried_then_typed(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    queue = f"structured-{uuid.uuid4().hex}"
    agent = Agent(
        FunctionModel(plan),
        tools=[book_flight],
        name=f"receipts-{uuid.uuid4().hex[:8]}",
        output_type=Receipt,
    )
    engine = engine_for(tmp_path / "bookings.db")
    worker = create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: engine})
    async with worker:
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, "book LX14", sender="alice")
        assert reply.status == "completed"
        assert reply.parsed(Receipt) == Receipt(flight_id="LX14", price=800.0)
        assert len(bookings(engine)) == 1
        transcript = await agents.transcript(conversation)
        errors = [
            b.content
            for m in transcript.messages
            for b in m.content
            if isinstance(b, ToolResultBlock) and b.is_error
        ]
        assert len(errors) == 1
        assert "greater than 0" in errors[0]

        other = await agents.start_conversation(agent.name, user="alice")
        failed = await agents.send(other, "never", sender="alice")
        assert failed.status == "tool_retries"
        assert failed.value is None
        with pytest.raises(OutputUnavailable):
            failed.parsed(Receipt)
