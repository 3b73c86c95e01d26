"""ApprovalWorkflow on the time-skipping test server: 24-hour timers in seconds of real time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from agentflow import ApprovalError, ApprovalRequest, call_digest
from agentflow.temporal import (
    AgentClient,
    ApprovalResult,
    ApprovalTimers,
    ApprovalVote,
    create_worker,
)
from agentflow.temporal.contracts import ApprovalWorkflowInput
from agentflow.testing.channels import RecordingChannel

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = timedelta(hours=24)
ARGS = {"flight_id": "LX14", "price": 2400.0}
REQUEST = ApprovalRequest(
    tool="book_flight",
    tool_call_id="toolu_1",
    arguments=ARGS,
    digest=call_digest("book_flight", ARGS),
    requester="alice",
    approvers=("bob", "carol"),
    reasons=("price 2400.0 is above 1000.0",),
)


class Harness:
    def __init__(self, env: WorkflowEnvironment, channel: RecordingChannel, queue: str) -> None:
        self.env, self.channel, self.queue = env, channel, queue
        self.approvals = AgentClient(env.client, task_queue=queue)

    @property
    def client(self) -> Client:
        return self.env.client

    async def start(self) -> WorkflowHandle[object, ApprovalResult]:
        return await self.client.start_workflow(
            "ApprovalWorkflow",
            ApprovalWorkflowInput(
                request=REQUEST,
                conversation_id="conv-1",
                timers=ApprovalTimers(remind_after=DAY, escalate_after=DAY, expire_after=DAY),
            ),
            id=f"approval-{uuid.uuid4().hex}",
            task_queue=self.queue,
            result_type=ApprovalResult,
        )

    async def vote(
        self, handle: WorkflowHandle[object, ApprovalResult], **kw: object
    ) -> ApprovalResult:
        fields: dict[str, object] = {"digest": REQUEST.digest, "approve": True} | kw
        return await self.approvals.decide(handle.id, ApprovalVote.model_validate(fields))


@pytest_asyncio.fixture(loop_scope="session")
async def harness(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    channel = RecordingChannel()
    queue = f"approvals-{uuid.uuid4().hex}"
    async with create_worker(time_skipping_env.client, [], task_queue=queue, channel=channel):
        yield Harness(time_skipping_env, channel, queue)


async def test_unanswered_request_reminds_escalates_then_expires(harness: Harness) -> None:
    handle = await harness.start()
    result = await handle.result()

    assert result.decision.outcome == "expired"
    assert result.decision.approver is None
    assert result.escalation_level == 1
    assert harness.channel.kinds(handle.id) == ["requested", "reminder", "escalated", "expired"]
    escalated = next(n for n in harness.channel.notices if n.kind == "escalated")
    assert escalated.approvers == ("bob", "carol")
    started = (await handle.describe()).start_time
    assert result.decided_at - started >= 3 * DAY


async def test_approval_after_a_reminder(harness: Harness) -> None:
    handle = await harness.start()
    await harness.env.sleep(DAY + timedelta(hours=1))
    status = await harness.approvals.approval_status(handle.id)
    assert (status.state, status.reminders_sent, status.escalation_level) == ("pending", 1, 0)

    result = await harness.vote(handle, approver="bob")

    assert (result.decision.outcome, result.decision.approver) == ("approved", "bob")
    assert await handle.result() == result
    assert harness.channel.kinds(handle.id) == ["requested", "reminder", "decided"]


async def test_next_approver_may_decide_only_after_escalation(harness: Harness) -> None:
    handle = await harness.start()
    with pytest.raises(ApprovalError, match="carol is not an authorised approver"):
        await harness.vote(handle, approver="carol")

    await harness.env.sleep(2 * DAY + timedelta(hours=1))
    result = await harness.vote(handle, approver="carol", approve=False, reason="too expensive")

    assert (result.decision.outcome, result.decision.reason) == ("denied", "too expensive")
    assert result.escalation_level == 1


@pytest.mark.parametrize(
    ("vote", "error"),
    [
        ({"approver": "mallory"}, "mallory is not an authorised approver"),
        ({"approver": "alice"}, "requester cannot approve"),
        ({"approver": "bob", "digest": "f" * 64}, "different call"),
        ({"approver": "bob", "approve": False}, "denial needs a reason"),
    ],
)
async def test_refused_decisions_change_nothing(
    harness: Harness, vote: dict[str, object], error: str
) -> None:
    handle = await harness.start()
    with pytest.raises(ApprovalError, match=error):
        await harness.vote(handle, **vote)
    status = await harness.approvals.approval_status(handle.id)
    assert status.state == "pending"
    history = await handle.fetch_history()
    assert not any(
        e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events
    )


async def test_a_decided_approval_cannot_be_decided_again(harness: Harness) -> None:
    handle = await harness.start()
    first = await harness.vote(handle, approver="bob")
    with pytest.raises(ApprovalError, match="already approved"):
        await harness.vote(handle, approver="bob", approve=False, reason="changed my mind")
    assert await handle.result() == first
