"""The travel agent on Temporal: bob approves a business fare by picking the economy fare of the
same flight; an edit to a fare above the hard cap is refused at decision time."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest

from agentflow import Agent, ApprovalError, call_digest
from agentflow.approvals import ApprovalDesk, LedgerChannel
from agentflow.binding import canonical_arguments
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel
from agentflow.testing.channels import RecordingChannel
from examples.travel.agent import SYSTEM
from examples.travel.planner import plan
from examples.travel.tools import TOOLS, book_flight
from tests.examples.travel_scenario_support import (
    CEO_FARE_ID,
    OUT_OF_POLICY_SEARCH,
    PoisonedFlights,
    booked_row,
    bookings,
    company,
    offer,
)
from workflows.ids import approval_workflow_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = date(2026, 12, 16)


async def test_bob_picks_the_economy_fare_and_cannot_pick_one_above_the_cap(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    queue = f"travel-edits-{uuid.uuid4().hex}"
    deps = company(tmp_path, flights=PoisonedFlights(ceo_fare=9_600.0))
    assert deps.org is not None and deps.ledger is not None
    agent = Agent(FunctionModel(plan), tools=TOOLS, system=SYSTEM, name=f"travel-{queue[-8:]}")
    async with create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: deps},
        channel=LedgerChannel(deps.ledger, RecordingChannel()),
        org=deps.org,
    ):
        agents = AgentClient(client, task_queue=queue)
        desk = ApprovalDesk(agents, deps.org)
        conversation = await agents.start_conversation(agent.name, user="alice")
        await agents.send(conversation, OUT_OF_POLICY_SEARCH, sender="alice")
        reply = await agents.send(conversation, "book option 1", sender="alice")
        assert reply.status == "awaiting_approval"
        (request,) = reply.approvals
        assert request.editable == ("offer_id", "price")
        approval_id = approval_workflow_id(conversation, request.tool_call_id)

        with pytest.raises(ApprovalError, match="cap"):
            await desk.decide(
                approval_id,
                "bob",
                approve=True,
                digest=request.digest,
                edit={"offer_id": CEO_FARE_ID, "price": 9_600.0},
            )
        assert (await agents.approval_status(approval_id)).state == "pending"
        assert bookings(deps.engine) == []

        economy = offer(0, DAY, "economy")
        edit = {"offer_id": economy.offer_id, "price": economy.price}
        result = await desk.decide(
            approval_id, "bob", approve=True, digest=request.digest, edit=edit
        )
        edited = canonical_arguments(book_flight.validate(edit))  # the price is a Decimal
        assert result.decision.digest == call_digest("book_flight", edited)

        final = await agents.wait_for_turn(conversation, reply.turn)
        assert final.status == "completed"
        assert bookings(deps.engine) == [booked_row(economy, "alice", "bob")]
        calls = deps.ledger.calls(approval_id)
        assert json.loads(calls["proposed"].arguments) == request.arguments
        assert json.loads(calls["approved"].arguments) == edited
        assert json.loads(calls["executed"].arguments) == edited
        assert calls["proposed"].digest == request.digest != calls["executed"].digest
