"""Access to Temporal alone decides nothing: a vote counts only if an approval desk signed it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from agentflow import ApprovalRequest, ApprovalStage, call_digest
from agentflow.approvals.rules import approval_id as approval_id_of
from agentflow.approvals.signing import VoteKeys, VoteSignature
from agentflow.audit import configure_tracing
from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker
from agentflow.temporal.contracts import ApprovalResult, ApprovalWorkflowInput
from tests.temporal.support import bookings, engine_for, make_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Env:
    def __init__(self, client: Client, agents: AgentClient, agent: str, engine: object) -> None:
        self.client, self.agents, self.agent, self.engine = client, agents, agent, engine
        self.exported = InMemorySpanExporter()
        self.flush: Callable[[], bool] = lambda: True

    async def pending(self) -> tuple[str, str]:
        conversation = await self.agents.start_conversation(self.agent, user="alice")
        reply = await self.agents.send(conversation, "book LX14 2400", sender="alice")
        (request,) = reply.approvals
        return approval_id_of(conversation, request.tool_call_id), request.digest

    async def raw_decide(self, approval_id: str, vote: ApprovalVote) -> ApprovalResult:
        """What anyone with access to the namespace can do: a plain temporalio update."""
        handle = self.client.get_workflow_handle(approval_id)
        return await handle.execute_update("decide", vote, result_type=ApprovalResult)


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[Env]:
    client = await dev_server.client()
    queue = f"signed-{uuid.uuid4().hex}"
    agent = make_agent(f"signed-{uuid.uuid4().hex[:8]}")
    engine = engine_for(tmp_path / "bookings.db")
    exported = InMemorySpanExporter()
    tracing = configure_tracing(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}", exporters=[exported], otlp=False
    )
    worker = create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: engine},
        tracer_provider=tracing,
    )
    async with worker:
        env = Env(client, AgentClient(client, task_queue=queue), agent.name, engine)
        env.exported = exported
        env.flush = tracing.force_flush
        yield env
    tracing.shutdown()


async def test_an_unsigned_vote_from_a_plain_temporal_client_is_refused(env: Env) -> None:
    approval_id, digest = await env.pending()
    vote = ApprovalVote(digest=digest, approver="bob", approve=True)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await env.raw_decide(approval_id, vote)
    assert "not signed by an approval desk" in str(refused.value.cause)
    assert (await env.agents.approval_status(approval_id)).state == "pending"
    assert bookings(env.engine) == []  # type: ignore[arg-type]
    assert env.flush()
    rejections = [
        dict(s.attributes or {})
        for s in env.exported.get_finished_spans()
        if s.name == "approval vote refused"
    ]
    assert any(
        r.get("agentflow.approval.approver") == "bob"
        and "not signed" in str(r.get("agentflow.vote.rejection"))
        for r in rejections
    ), rejections


async def test_a_forged_or_altered_or_foreign_key_vote_is_refused(env: Env) -> None:
    approval_id, digest = await env.pending()
    keys = VoteKeys.from_env()
    assert keys is not None
    now = datetime.now(UTC)
    signed = keys.sign(
        approval_id, ApprovalVote(digest=digest, approver="carol", approve=True), now=now
    )
    altered = signed.model_copy(update={"approver": "bob"})  # carol's signature, bob's name
    stranger = VoteKeys.generate("suite").sign(
        approval_id, ApprovalVote(digest=digest, approver="bob", approve=True), now=now
    )
    stale = keys.sign(
        approval_id,
        ApprovalVote(digest=digest, approver="bob", approve=True),
        now=now - timedelta(hours=1),
    )
    other_approval = keys.sign(
        approval_id + "x", ApprovalVote(digest=digest, approver="bob", approve=True), now=now
    )
    for vote, why in [
        (altered, "does not match"),
        (stranger, "does not match"),
        (stale, "too long ago"),
        (other_approval, "does not match"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await env.raw_decide(approval_id, vote)
        assert why in str(refused.value.cause), (why, refused.value.cause)
    # bob may decide: only the key can be what refuses this vote.
    unknown = altered.model_copy(
        update={"signature": VoteSignature(key_id="nope", issued_at=now, nonce="n", mac="0")}
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await env.raw_decide(approval_id, unknown)
    assert "unknown key 'nope'" in str(refused.value.cause), refused.value.cause
    assert (await env.agents.approval_status(approval_id)).state == "pending"


async def test_a_signed_vote_counts_once_and_its_replay_is_refused(env: Env) -> None:
    approval_id, digest = await env.pending()
    keys = VoteKeys.from_env()
    assert keys is not None
    vote = keys.sign(
        approval_id,
        ApprovalVote(digest=digest, approver="bob", approve=False, reason="take the train"),
        now=datetime.now(UTC),
    )
    result = await env.raw_decide(approval_id, vote)
    assert result.decision.outcome == "denied"
    # Refused by the workflow, or by Temporal once the denial has closed it.
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await env.raw_decide(approval_id, vote)


async def test_the_desk_path_signs_and_decides(env: Env) -> None:
    approval_id, digest = await env.pending()
    result = await env.agents.decide(
        approval_id, ApprovalVote(digest=digest, approver="bob", approve=True)
    )
    assert result.decision.outcome == "approved"
    final = await env.agents.wait_for_turn(approval_id.split("/approval/")[0], 1)
    assert final.status == "completed" and len(bookings(env.engine)) == 1  # type: ignore[arg-type]


async def test_a_vote_is_checked_counted_and_closes_the_approval_in_one_workflow_task(
    env: Env,
) -> None:
    """The signature check and the decided notice run in the task that took the vote.

    Each used to be an activity, with a round trip through the server and a workflow task more
    before the conversation could resume.
    """
    approval_id, digest = await env.pending()
    handle = env.client.get_workflow_handle(approval_id)
    # Once the approval has told its approvers, it waits (the reminder's timer).
    while not (await handle.fetch_history()).events[-1].HasField("timer_started_event_attributes"):
        await asyncio.sleep(0.05)
    await env.agents.decide(approval_id, ApprovalVote(digest=digest, approver="bob", approve=True))
    await handle.result()
    events = [e async for e in handle.fetch_history_events()]
    kinds = [EventType.Name(e.event_type) for e in events]
    accepted = kinds.index("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
    assert kinds[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert "EVENT_TYPE_WORKFLOW_TASK_COMPLETED" not in kinds[accepted:]
    local = [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)
        for e in events[accepted:]
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    assert [m["activity_type"] for m in local] == [
        "agentflow.verify_vote",
        "agentflow.notify_approval",
    ]
    assert local[1]["activity_id"] == "notice-decided-1"
    scheduled = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    assert scheduled == {"agentflow.notify_approval"}  # the request's notice, before the vote


async def test_a_signed_vote_sent_again_to_an_open_approval_is_refused_as_a_replay(
    env: Env,
) -> None:
    """Two of two must approve: after bob's vote the approval is still open, and his signed vote,
    sent again, is refused by the workflow for its nonce before anything else."""
    args = {"flight_id": "LX14", "price": 2400.0}
    request = ApprovalRequest(
        tool="book_flight",
        tool_call_id="call-book",
        arguments=args,
        digest=call_digest("book_flight", args),
        requester="alice",
        stages=(ApprovalStage(approvers=("bob", "carol"), required=2),),
    )
    approval_id = f"conv-{uuid.uuid4().hex}/approval/call-book"
    await env.client.start_workflow(
        "ApprovalWorkflow",
        ApprovalWorkflowInput(request=request, conversation_id="conv-open"),
        id=approval_id,
        task_queue=env.agents.task_queue,
    )
    keys = VoteKeys.from_env()
    assert keys is not None
    vote = keys.sign(
        approval_id,
        ApprovalVote(digest=request.digest, approver="bob", approve=True),
        now=datetime.now(UTC),
    )
    assert (await env.raw_decide(approval_id, vote)).complete is False
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await env.raw_decide(approval_id, vote)
    assert "already sent once (a replay)" in str(refused.value.cause)
    assert (await env.agents.approval_status(approval_id)).approved_by == (("bob",),)
    await env.client.get_workflow_handle(approval_id).terminate("test finished")
