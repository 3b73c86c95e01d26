"""On Temporal, a typed tool's call runs in its activity with the arguments the model sent.

The activity has only the call the workflow recorded, its canonical arguments, and validates
them again: a JSON-schema tool (an MCP server's) whose call left out an optional property, or
named one that is no Python identifier, used to be refused there (``null`` and the stand-in
name ``p1`` are not what its schema accepts), and a pydantic-model tool with an aliased field
too. The body must get what was sent, the same as in-process. A model tool's approval is bound
to the digest of its fields, and the body runs once approved.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from agentflow import Agent, Allow, Decision, NeedsApproval, RunContext, Tool, precondition, tool
from agentflow.messages import ModelRequest, ModelResponse, TextBlock, ToolResultBlock
from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response, tool_call, tool_calls
from agentflow.testing.channels import RecordingChannel
from tests.temporal.support import engine_for

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


RECEIVED: list[object] = []


class Booking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flight_id: str
    price: float


@precondition
def bob_above_1000(ctx: RunContext[Engine], args: Booking) -> Decision:
    """Above 1000 EUR, bob approves."""
    if args.price > 1000:
        return NeedsApproval(f"{args.price:.0f} EUR is above 1000", approvers=["bob"])
    return Allow()


@tool(args_model=Booking, requires=bob_above_1000, side_effects=True)
def book(request: Booking, ctx: RunContext[Engine]) -> str:
    """Book a flight."""
    RECEIVED.append(request)
    return f"booked {request.flight_id} at {request.price:.0f} for {ctx.user}"


def plan(request: ModelRequest) -> ModelResponse:
    last = request.messages[-1]
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    if results:
        return text_response(("Failed: " if results[0].is_error else "Done: ") + results[0].content)
    words = next(b.text for b in last.content if isinstance(b, TextBlock)).split()
    arguments: dict[str, Any] = {"flight_id": words[1], "price": words[2]}
    if len(words) > 3:
        arguments["seat"] = words[3]  # a field the model does not have
    return tool_call("book", id="call-book", **arguments)


async def test_a_model_typed_tool_is_validated_approved_and_run_durably(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    queue = f"typed-{uuid.uuid4().hex}"
    agent = Agent(FunctionModel(plan), tools=[book], name=f"typed-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    worker = create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: engine},
        channel=RecordingChannel(),
    )
    RECEIVED.clear()
    async with worker:
        agents = AgentClient(client, task_queue=queue)
        refused = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(refused, "book LX14 800 window", sender="alice")
        assert reply.status == "completed" and reply.output.startswith("Failed: Invalid argum")
        assert "seat: Extra inputs are not permitted" in reply.output and RECEIVED == []

        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, "book LX14 2400", sender="alice")
        assert reply.status == "awaiting_approval" and RECEIVED == []
        (request,) = reply.approvals
        assert request.arguments == {"flight_id": "LX14", "price": 2400.0}
        approval_id = f"{conversation}/approval/call-book"
        await agents.decide(
            approval_id, ApprovalVote(digest=request.digest, approver="bob", approve=True)
        )
        final = await agents.wait_for_turn(conversation, 1)
    assert final.output == "Done: booked LX14 at 2400 for alice"
    assert [Booking(flight_id="LX14", price=2400.0)] == RECEIVED
