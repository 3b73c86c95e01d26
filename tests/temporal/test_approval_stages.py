"""Ordered stages and M-of-N on the time-skipping test server: manager then director, two of
three directors, a denial at any stage ends the approval, nobody counts twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from agentflow import ApprovalError, ApprovalRequest, call_digest
from agentflow.binding import ApprovalStage
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
ARGS = {"flight_id": "LX40", "price": 9000.0}
DIGEST = call_digest("book_flight", ARGS)
MANAGER_THEN_DIRECTOR = (
    ApprovalStage(approvers=("bob",), name="manager"),
    ApprovalStage(approvers=("dana",), escalate_to=("erin",), name="director"),
)
TWO_OF_THREE = (ApprovalStage(approvers=("dana", "erin", "frank"), required=2),)


class Stages:
    def __init__(self, env: WorkflowEnvironment, channel: RecordingChannel, queue: str) -> None:
        self.env, self.channel, self.queue = env, channel, queue
        self.agents = AgentClient(env.client, task_queue=queue)
        self.started: list[WorkflowHandle[object, ApprovalResult]] = []

    async def start(
        self, stages: tuple[ApprovalStage, ...]
    ) -> WorkflowHandle[object, ApprovalResult]:
        request = ApprovalRequest(
            tool="book_flight",
            tool_call_id="toolu_1",
            arguments=ARGS,
            digest=DIGEST,
            requester="alice",
            approvers=tuple(a for s in stages for a in s.eligible()),
            stages=stages,
            reasons=("above the director's limit",),
        )
        handle = await self.env.client.start_workflow(
            "ApprovalWorkflow",
            ApprovalWorkflowInput(
                request=request,
                conversation_id="conv-stages",
                timers=ApprovalTimers(remind_after=DAY, escalate_after=DAY, expire_after=DAY),
            ),
            id=f"approval-{uuid.uuid4().hex}",
            task_queue=self.queue,
            result_type=ApprovalResult,
        )
        self.started.append(handle)
        await self.asked(handle)
        return handle

    async def asked(self, handle: WorkflowHandle[object, ApprovalResult]) -> None:
        """Wait for the first request to reach the channel, as an approver does before voting.

        A vote sent before the workflow's first task would be handled before the first stage is
        ever announced, and that stage's request (then stale) is not sent.
        """
        for _ in range(200):
            if "requested" in self.channel.kinds(handle.id):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{handle.id} never asked for approval")

    async def vote(
        self, handle: WorkflowHandle[object, ApprovalResult], approver: str, **kw: object
    ) -> ApprovalResult:
        fields: dict[str, object] = {"digest": DIGEST, "approve": True, "approver": approver}
        return await self.agents.decide(handle.id, ApprovalVote.model_validate(fields | kw))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stages_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path()), data_converter=pydantic_data_converter
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def stages(stages_env: WorkflowEnvironment) -> AsyncIterator[Stages]:
    channel = RecordingChannel()
    queue = f"stages-{uuid.uuid4().hex}"
    async with create_worker(stages_env.client, [], task_queue=queue, channel=channel):
        harness = Stages(stages_env, channel, queue)
        yield harness
        for handle in harness.started:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")


async def test_two_stages_need_both_in_order(stages: Stages) -> None:
    handle = await stages.start(MANAGER_THEN_DIRECTOR)
    with pytest.raises(ApprovalError, match="dana is not an authorised approver"):
        await stages.vote(handle, "dana")

    first = await stages.vote(handle, "bob")
    assert (first.complete, first.decision.stage_approvals) == (False, (("bob",), ()))
    status = await stages.agents.approval_status(handle.id)
    assert (status.state, status.stage, status.current_approvers) == ("pending", 1, ("dana",))
    # The same vote sent again is one vote (Temporal dedupes it); another vote by bob is refused.
    assert await stages.vote(handle, "bob") == first
    with pytest.raises(ApprovalError, match="bob has already voted"):
        await stages.vote(handle, "bob", reason="and again")

    final = await stages.vote(handle, "dana")
    assert final.complete
    assert (final.decision.outcome, final.decision.approver) == ("approved", "dana")
    assert final.decision.stage_approvals == (("bob",), ("dana",))
    assert await handle.result() == final
    requested = [n.approvers for n in stages.channel.notices if n.kind == "requested"]
    assert requested == [("bob",), ("dana",)]
    assert stages.channel.kinds(handle.id) == ["requested", "requested", "decided"]


async def test_a_later_stage_still_reminds_and_escalates(stages: Stages) -> None:
    handle = await stages.start(MANAGER_THEN_DIRECTOR)
    await stages.vote(handle, "bob")
    with pytest.raises(ApprovalError, match="erin is not an authorised approver"):
        await stages.vote(handle, "erin")
    await stages.env.sleep(2 * DAY + timedelta(hours=1))
    status = await stages.agents.approval_status(handle.id)
    assert (status.stage, status.current_approvers) == (1, ("dana", "erin"))

    final = await stages.vote(handle, "erin")
    assert final.decision.stage_approvals == (("bob",), ("erin",))
    assert await handle.result() == final
    assert stages.channel.kinds(handle.id) == [
        "requested",
        "requested",
        "reminder",
        "escalated",
        "decided",
    ]


async def test_two_of_three_need_two_distinct_approvers(stages: Stages) -> None:
    handle = await stages.start(TWO_OF_THREE)
    first = await stages.vote(handle, "dana")
    assert not first.complete
    with pytest.raises(ApprovalError, match="dana has already voted"):
        await stages.vote(handle, "dana", reason="twice as sure")
    status = await stages.agents.approval_status(handle.id)
    assert (status.state, status.approved_by) == ("pending", (("dana",),))

    final = await stages.vote(handle, "frank")
    assert final.complete
    assert final.decision.stage_approvals == (("dana", "frank"),)
    assert (await handle.result()).decision.outcome == "approved"


@pytest.mark.parametrize("plan", [MANAGER_THEN_DIRECTOR, TWO_OF_THREE])
async def test_a_denial_at_any_stage_ends_it(
    stages: Stages, plan: tuple[ApprovalStage, ...]
) -> None:
    handle = await stages.start(plan)
    voter = plan[0].approvers[0]
    other = plan[-1].approvers[-1]
    if plan is MANAGER_THEN_DIRECTOR:
        await stages.vote(handle, "bob")
        voter = "dana"
    denied = await stages.vote(handle, voter, approve=False, reason="not this trip")

    assert denied.complete
    assert (denied.decision.outcome, denied.decision.reason) == ("denied", "not this trip")
    with pytest.raises(ApprovalError, match="already denied"):
        await stages.vote(handle, other)
    assert (await handle.result()).decision.outcome == "denied"


async def test_nobody_counts_twice_through_a_delegation_claim(stages: Stages) -> None:
    """Having voted as themselves, a person cannot vote again in someone's name."""
    handle = await stages.start(TWO_OF_THREE)
    await stages.vote(handle, "dana")
    with pytest.raises(ApprovalError, match="dana has already voted"):
        await stages.vote(
            handle,
            "dana",
            delegation={
                "approver": "erin",
                "delegate": "dana",
                "starts": "2000-01-01T00:00:00Z",
                "ends": "2100-01-01T00:00:00Z",
            },
        )
