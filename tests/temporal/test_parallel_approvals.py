"""Several approvals pending in one turn are handled together: one ApprovalWorkflow per call,
each decided on its own, and the turn goes on once every one of them is decided."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from agentflow import Agent, ApprovalError
from agentflow.messages import ModelRequest, ModelResponse, TextBlock, ToolResultBlock
from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response, tool_calls
from agentflow.testing.channels import RecordingChannel
from tests.temporal.support import book_flight, bookings, engine_for
from workflows.ids import approval_workflow_id

pytestmark = pytest.mark.asyncio(loop_scope="session")


def two_bookings(request: ModelRequest) -> ModelResponse:
    """``book LX14 2400 LX16 1800`` books both flights in one response; then reports."""
    last = request.messages[-1]
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    if results:
        return text_response(" | ".join(r.content for r in results))
    text = next(b.text for b in last.content if isinstance(b, TextBlock))
    _, first, first_price, second, second_price = text.split()
    return tool_calls(
        ("book_flight", {"flight_id": first, "price": float(first_price)}, "call-a"),
        ("book_flight", {"flight_id": second, "price": float(second_price)}, "call-b"),
    )


async def test_two_pending_approvals_in_one_turn_are_decided_separately(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    queue = f"parallel-{uuid.uuid4().hex}"
    engine = engine_for(tmp_path / "bookings.db")
    agent = Agent(
        FunctionModel(two_bookings), tools=[book_flight], name=f"two-{uuid.uuid4().hex[:8]}"
    )
    channel = RecordingChannel()
    async with create_worker(
        client, [agent], task_queue=queue, deps={agent.name: lambda: engine}, channel=channel
    ):
        agents = AgentClient(client, task_queue=queue)
        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, "book LX14 2400 LX16 1800", sender="alice")

        assert reply.status == "awaiting_approval"
        assert [r.tool_call_id for r in reply.approvals] == ["call-a", "call-b"]
        first, second = reply.approvals
        assert first.digest != second.digest
        ids = [approval_workflow_id(conversation, r.tool_call_id) for r in reply.approvals]
        for approval_id, request in zip(ids, reply.approvals, strict=True):
            status = await agents.approval_status(approval_id)
            assert (status.state, status.request) == ("pending", request)

        # One approval's digest does not decide the other.
        with pytest.raises(ApprovalError, match="different call"):
            await agents.decide(
                ids[1], ApprovalVote(digest=first.digest, approver="bob", approve=True)
            )
        await agents.decide(ids[0], ApprovalVote(digest=first.digest, approver="bob", approve=True))
        assert bookings(engine) == []  # the turn waits for every decision
        await agents.decide(
            ids[1],
            ApprovalVote(
                digest=second.digest, approver="bob", approve=False, reason="one is enough"
            ),
        )

        final = await agents.wait_for_turn(conversation, 1)
        assert final.status == "completed"
        assert "Approval denied by bob: one is enough" in final.output
        (booking,) = bookings(engine)
        assert (booking.flight_id, booking.price) == ("LX14", 2400.0)
