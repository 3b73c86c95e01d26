"""ApprovalWorkflow on the time-skipping test server: 24-hour timers in seconds of real time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
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
from agentflow.temporal.devserver import test_server_path
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
        self.started: list[WorkflowHandle[object, ApprovalResult]] = []

    @property
    def client(self) -> Client:
        return self.env.client

    async def start(self) -> WorkflowHandle[object, ApprovalResult]:
        handle = await self.client.start_workflow(
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
        self.started.append(handle)
        return handle

    async def terminate_leftovers(self) -> None:
        # The time-skipping server stops skipping while any workflow has a task no worker will
        # take: leave nothing running for the tests that share this server.
        for handle in self.started:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                try:
                    await handle.terminate("test finished")
                except RPCError as exc:  # it completed since describe(): nothing left to stop
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise

    async def vote(
        self, handle: WorkflowHandle[object, ApprovalResult], **kw: object
    ) -> ApprovalResult:
        fields: dict[str, object] = {"digest": REQUEST.digest, "approve": True} | kw
        return await self.approvals.decide(handle.id, ApprovalVote.model_validate(fields))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def approval_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this module's own: updates and terminated workflows here must
    not hold the clock of the tests that share the session's server."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path()), data_converter=pydantic_data_converter
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def harness(approval_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    time_skipping_env = approval_env
    channel = RecordingChannel()
    queue = f"approvals-{uuid.uuid4().hex}"
    async with create_worker(time_skipping_env.client, [], task_queue=queue, channel=channel):
        harness = Harness(time_skipping_env, channel, queue)
        yield harness
        await harness.terminate_leftovers()


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


async def test_a_request_that_names_no_approver_can_be_decided_by_nobody(harness: Harness) -> None:
    handle = await harness.client.start_workflow(
        "ApprovalWorkflow",
        ApprovalWorkflowInput(
            request=REQUEST.model_copy(update={"approvers": ()}), conversation_id="c"
        ),
        id=f"approval-{uuid.uuid4().hex}",
        task_queue=harness.queue,
        result_type=ApprovalResult,
    )
    harness.started.append(handle)
    with pytest.raises(ApprovalError, match="bob is not an authorised approver"):
        await harness.vote(handle, approver="bob")
