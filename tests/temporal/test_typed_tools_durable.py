"""On Temporal, a typed tool's call runs in its activity with the arguments the model sent.

The activity has only the call the workflow recorded, its canonical arguments, and validates
them again: a JSON-schema tool (an MCP server's) whose call left out an optional property, or
named one that is no Python identifier, used to be refused there (``null`` and the stand-in
name ``p1`` are not what its schema accepts), and a pydantic-model tool with an aliased field
too. The body must get what was sent, the same as in-process.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from agentflow import Agent, Tool
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response, tool_calls

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order": {"type": "string"},
        "reason-code": {"type": "string"},
        "note": {"type": "string"},
    },
    "required": ["order"],
    "additionalProperties": False,
}


class Trip(BaseModel):
    model_config = ConfigDict(extra="forbid")

    origin: str = Field(alias="from")
    to: str


async def test_typed_tools_run_in_their_activity_with_what_was_sent(
    dev_server: DevServer,
) -> None:
    refunds: list[dict[str, Any]] = []
    trips: list[Trip] = []

    def refund(arguments: dict[str, Any]) -> str:
        refunds.append(arguments)
        return "refunded"

    def plan(trip: Trip) -> str:
        trips.append(trip)
        return "planned"

    results: list[ToolResultBlock] = []

    def model(request: ModelRequest) -> ModelResponse:
        last = request.messages[-1].content
        if any(isinstance(b, ToolResultBlock) for b in last):
            results.extend(b for b in last if isinstance(b, ToolResultBlock))
            return text_response("done")
        return tool_calls(
            ("refund", {"order": "A-1", "reason-code": "late"}, "call-refund"),
            ("plan", {"from": "ZRH", "to": "LHR"}, "call-plan"),
        )

    tools = [Tool.from_schema("refund", SCHEMA, refund), Tool.from_model("plan", Trip, plan)]
    agent = Agent(FunctionModel(model), tools=tools, name=f"typed-{uuid.uuid4().hex[:8]}")
    client = await dev_server.client()
    queue = f"typed-tools-{uuid.uuid4().hex}"
    async with create_worker(client, [agent], task_queue=queue):
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, "refund and plan", sender="alice")
    assert (reply.status, reply.output) == ("completed", "done")
    assert [r.is_error for r in results] == [False, False], results
    assert refunds == [{"order": "A-1", "reason-code": "late"}]
    assert trips == [Trip.model_validate({"from": "ZRH", "to": "LHR"})]
