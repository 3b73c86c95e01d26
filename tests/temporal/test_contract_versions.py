"""A tool's arguments contract is versioned in its approvals: a deploy that changes it voids them.

An approval binds the digest of a call as the tool's arguments model read it. A new optional
argument changes what the same call digests to, so an approval given before the deploy cannot
authorise the call after it: the call is refused as *voided by a version change* (not as "for
different arguments"), and the approver who gave it is told, through the approval channel.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from agentflow import Agent, RunContext, tool
from agentflow.approvals.rules import approval_id
from agentflow.binding import ApprovalDecision
from agentflow.execution import invoke_tool
from agentflow.loop import ToolCall
from agentflow.outcomes import ToolDenied, ToolNeedsApproval
from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker, registry
from agentflow.testing import FunctionModel
from agentflow.testing.channels import RecordingChannel
from tests.temporal.support import book_flight, bookings, engine_for, plan, within_budget


@tool(requires=within_budget, side_effects=True, name="book_flight")
def book_flight_with_seat(
    ctx: RunContext[Engine], flight_id: str, price: float, seat: str = "any"
) -> dict[str, Any]:
    """Book a flight for the employee (the new version: a seat may be asked for)."""
    return {"flight_id": flight_id, "seat": seat}


@tool(requires=within_budget, side_effects=True, name="book_flight")
def book_flight_reworded(ctx: RunContext[Engine], flight_id: str, price: float) -> dict[str, Any]:
    """Books a flight (only the words changed).

    Args:
        flight_id: which flight.
        price: what it costs.
    """
    return {"flight_id": flight_id}


def test_the_contract_changes_with_what_a_call_may_carry_not_with_its_words() -> None:
    assert book_flight.contract == book_flight_reworded.contract
    assert book_flight.contract != book_flight_with_seat.contract

    @tool(name="book_flight")
    def retyped(flight_id: str, price: int) -> None:
        """Book."""

    @tool(name="book_flight")
    def titled(flight_id: str, price: float, title: str = "") -> None:
        """Book, with an argument named like a schema keyword."""

    assert len({book_flight.contract, retyped.contract, titled.contract}) == 3


async def _request_under(old: Any, new: Any) -> ToolDenied | ToolNeedsApproval:
    """Ask approval under ``old``; approve it; run the call under ``new``."""
    arguments = {"flight_id": "LX14", "price": 2400.0}
    call = ToolCall(id="call-1", name="book_flight", arguments=arguments, digest="")
    ctx = RunContext(deps=None, user="alice", conversation_id="conv-1", tool_call_id="call-1")
    asked = await invoke_tool(old, ctx, call)
    assert isinstance(asked, ToolNeedsApproval)
    assert asked.request.contract == old.contract
    approval: ApprovalDecision = asked.request.approve("bob")
    ran = await invoke_tool(new, dataclasses.replace(ctx, approval=approval), call)
    assert isinstance(ran, ToolDenied | ToolNeedsApproval)
    return ran


async def test_an_approval_given_under_another_contract_is_voided_saying_why() -> None:
    refused = await _request_under(book_flight, book_flight_with_seat)
    assert isinstance(refused, ToolDenied)
    (reason,) = refused.reasons
    assert reason.startswith("the approval was voided: book_flight changed since it was approved")
    assert f"from version {book_flight.contract} to {book_flight_with_seat.contract}" in reason


@pytest.mark.asyncio(loop_scope="session")
async def test_a_deploy_that_adds_an_optional_argument_voids_the_approval_and_tells_the_approver(
    dev_server: DevServer, tmp_path: Path
) -> None:
    client = await dev_server.client()
    queue = f"contract-{uuid.uuid4().hex}"
    name = f"contract-{uuid.uuid4().hex[:8]}"
    engine = engine_for(tmp_path / "bookings.db")
    deps = {name: lambda: engine}
    agents = AgentClient(client, task_queue=queue)
    channel = RecordingChannel()

    before = Agent(FunctionModel(plan), tools=[book_flight], name=name)
    async with create_worker(client, [before], task_queue=queue, deps=deps, channel=channel):
        conversation = await agents.start_conversation(name, user="alice")
        reply = await agents.send(conversation, "book LX14 2400", sender="alice")
        (request,) = reply.approvals
        assert request.contract == book_flight.contract

    registry._agents.pop(name)  # pyright: ignore[reportPrivateUsage]  # the deploy
    after = Agent(FunctionModel(plan), tools=[book_flight_with_seat], name=name)
    async with create_worker(client, [after], task_queue=queue, deps=deps, channel=channel):
        approval = approval_id(conversation, request.tool_call_id)
        vote = ApprovalVote(digest=request.digest, approver="bob", approve=True)
        await agents.decide(approval, vote)
        final = await agents.wait_for_turn(conversation, reply.turn)

    # The employee's agent is told the approval was voided, and why; nothing is booked.
    assert "the approval was voided: book_flight changed since it was approved" in final.output
    assert "different arguments" not in final.output
    assert bookings(engine) == []
    # The approver is told, through the channel, for that approval.
    voided = [n for n in channel.notices if n.kind == "voided"]
    assert [(n.workflow_id, n.approvers) for n in voided] == [(approval, ("bob",))]
    assert voided[0].reason.startswith("the approval was voided: book_flight changed")
