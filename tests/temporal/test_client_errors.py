"""``AgentClient`` when Temporal is slow: agentflow errors, and decisions that are idempotent.

Real dev server. A workflow whose task queue has no worker cannot accept an update, so an
update call with a short RPC timeout times out for real; the update itself stays admitted and
lands once a worker comes, which is exactly the case a retrying approver runs into.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from agentflow import (
    AgentflowError,
    ApprovalError,
    ApprovalRequest,
    TemporalUnavailable,
    call_digest,
)
from agentflow.approvals.rules import approval_id as approval_id_of
from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker
from agentflow.temporal.client import vote_id
from agentflow.temporal.contracts import ApprovalWorkflowInput
from agentflow.testing.channels import RecordingChannel
from tests.temporal.support import bookings, engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

ARGS = {"flight_id": "LX14", "price": 2400.0}
REQUEST = ApprovalRequest(
    tool="book_flight",
    tool_call_id="call-book",
    arguments=ARGS,
    digest=call_digest("book_flight", ARGS),
    requester="alice",
    approvers=("bob", "carol"),
    reasons=("fare 2400 is above the 1000 cap",),
)
SHORT = timedelta(seconds=1)


async def test_an_update_that_times_out_is_an_agentflow_error(dev_server: DevServer) -> None:
    queue = f"nobody-{uuid.uuid4().hex}"  # no worker serves it: the update is never accepted
    agents = AgentClient(await dev_server.client(), task_queue=queue, rpc_timeout=SHORT)
    conversation = await agents.start_conversation("travel", user="alice")
    with pytest.raises(TemporalUnavailable) as raised:
        await agents.send(conversation, "a flight to Zurich", sender="alice")
    assert isinstance(raised.value, AgentflowError)
    assert str(raised.value) == (
        f"Temporal did not answer the send_message update on {conversation} in time"
    )
    await agents.client.get_workflow_handle(conversation).terminate("test finished")


async def test_cancelling_a_call_stays_a_cancellation(dev_server: DevServer) -> None:
    queue = f"nobody-{uuid.uuid4().hex}"
    agents = AgentClient(await dev_server.client(), task_queue=queue)
    conversation = await agents.start_conversation("travel", user="alice")
    task = asyncio.create_task(agents.send(conversation, "a flight to Zurich", sender="alice"))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await agents.client.get_workflow_handle(conversation).terminate("test finished")


async def test_a_vote_that_landed_after_a_timeout_is_reported_truthfully(
    dev_server: DevServer,
) -> None:
    client = await dev_server.client()
    queue = f"late-{uuid.uuid4().hex}"
    approval_id = f"conv-{uuid.uuid4().hex}/approval/call-book"
    await client.start_workflow(
        "ApprovalWorkflow",
        ApprovalWorkflowInput(request=REQUEST, conversation_id="conv-late"),
        id=approval_id,
        task_queue=queue,
    )
    agents = AgentClient(client, task_queue=queue, rpc_timeout=SHORT)
    bob = ApprovalVote(digest=REQUEST.digest, approver="bob", approve=True, reason="ok")

    # No worker yet: bob's click times out, and the error says what that means.
    with pytest.raises(TemporalUnavailable) as raised:
        await agents.decide(approval_id, bob)
    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        f"Temporal did not confirm the decision on {approval_id} in time; it may still be "
        "recorded: read the approval's status before deciding again"
    )

    # The worker comes; the admitted update lands after all.
    channel = RecordingChannel()
    async with create_worker(client, [], task_queue=queue, channel=channel):
        for _ in range(100):
            if "decided" in channel.kinds(approval_id):
                break
            await asyncio.sleep(0.05)
        assert (await agents.approval_status(approval_id)).state == "approved"
        handle = client.get_workflow_handle(approval_id)
        await handle.result()

        # bob retries the very same vote: it is reported as what happened, not as an error.
        retried = await agents.decide(approval_id, bob)
        assert (retried.decision.outcome, retried.decision.approver) == ("approved", "bob")
        assert retried.decided_by == "bob"
        assert retried.decision.digest == REQUEST.digest

        # Another vote, or the same person saying something else, is refused truthfully.
        for other in (
            ApprovalVote(digest=REQUEST.digest, approver="carol", approve=True),
            bob.model_copy(update={"reason": "changed my mind"}),
            bob.model_copy(update={"approve": False, "reason": "no"}),
        ):
            with pytest.raises(ApprovalError, match="already approved"):
                await agents.decide(approval_id, other)

    # Exactly one decision is in the history.
    history = await handle.fetch_history()
    completed = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_completed_event_attributes")
    ]
    assert len(completed) == 1


async def test_a_vote_sent_twice_while_open_is_one_update(dev_server: DevServer) -> None:
    client = await dev_server.client()
    queue = f"twice-{uuid.uuid4().hex}"
    approval_id = f"conv-{uuid.uuid4().hex}/approval/call-book"
    async with create_worker(client, [], task_queue=queue, channel=RecordingChannel()):
        await client.start_workflow(
            "ApprovalWorkflow",
            ApprovalWorkflowInput(request=REQUEST, conversation_id="conv-twice"),
            id=approval_id,
            task_queue=queue,
        )
        agents = AgentClient(client, task_queue=queue)
        denial = ApprovalVote(digest=REQUEST.digest, approver="bob", approve=False, reason="no")
        first, second = await asyncio.gather(
            agents.decide(approval_id, denial), agents.decide(approval_id, denial)
        )
        assert first == second
        assert first.decision.outcome == "denied"
    assert vote_id(denial) == vote_id(denial.model_copy())
    assert vote_id(denial) != vote_id(denial.model_copy(update={"reason": "No"}))


async def test_a_conversation_with_an_agent_the_worker_does_not_serve_ends_at_once(
    dev_server: DevServer,
) -> None:
    """Its workflow fails once, with the reason, instead of failing its task for ever."""
    from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

    from agentflow import ConversationEnded
    from tests.temporal.support import make_agent

    queue = f"unknown-agent-{uuid.uuid4().hex}"
    client = await dev_server.client()
    agents = AgentClient(client, task_queue=queue, rpc_timeout=timedelta(seconds=20))
    async with create_worker(client, [make_agent("served-booker")], task_queue=queue):
        conversation = await agents.start_conversation("no-such-agent", user="alice")
        with pytest.raises(ConversationEnded) as raised:
            await asyncio.wait_for(agents.send(conversation, "hello", sender="alice"), 15)
        assert str(raised.value) == (
            f"{conversation} has ended: no agent named 'no-such-agent' is registered in this "
            "worker (registered: " + str(raised.value).split("(registered: ")[1]
        )
        assert "served-booker" in str(raised.value)
        with pytest.raises(ConversationEnded, match="has ended: no agent named 'no-such-agent'"):
            await agents.send(conversation, "hello again", sender="alice")
        handle = client.get_workflow_handle(conversation)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
        task_failures = [
            event
            async for event in handle.fetch_history_events()
            if event.HasField("workflow_task_failed_event_attributes")
        ]
        assert task_failures == []


async def test_waits_for_a_turn_retried_after_timeouts_are_one_update(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """Every wait for a turn's reply is the same update: retries and other waiters join it.

    A loaded worker may not accept the update before the RPC deadline; each retry with an
    update of its own would be one more update for that worker to take.
    """
    client = await dev_server.client()
    queue = f"waits-{uuid.uuid4().hex}"
    agent = make_agent(f"waits-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    agents = AgentClient(client, task_queue=queue, rpc_timeout=SHORT)
    patient = AgentClient(client, task_queue=queue)
    deps = {agent.name: lambda: engine}
    async with create_worker(client, [agent], task_queue=queue, deps=deps):
        conversation = await patient.start_conversation(agent.name, user="alice")
        reply = await patient.send(conversation, "book LX14 2400", sender="alice")
    (request,) = reply.approvals
    # No worker now: the waits time out unaccepted, and stay admitted.
    for _ in range(2):
        with pytest.raises(TemporalUnavailable):
            await agents.wait_for_turn(conversation, reply.turn)
    async with create_worker(client, [agent], task_queue=queue, deps=deps):
        vote = ApprovalVote(digest=request.digest, approver="bob", approve=True)
        await patient.decide(approval_id_of(conversation, request.tool_call_id), vote)
        first, second = await asyncio.gather(
            patient.wait_for_turn(conversation, reply.turn),
            patient.wait_for_turn(conversation, reply.turn),
        )
    assert first == second and first.status == "completed"
    assert len(bookings(engine)) == 1
    history = await client.get_workflow_handle(conversation).fetch_history()
    waits = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == "wait_for_turn"
    ]
    assert len(waits) == 1
