"""The approval workflow's decision path: refusals before history, recounts after every look-up.

On a real dev server. Each test states a property of ``ApprovalWorkflow.decide`` and fails if
the workflow loses it: a vote the validator must refuse leaves no trace in history (the update
is rejected, never accepted), only the vote that completes the approval may carry an edit, and
a vote counted while another was being checked against the org chart makes that other one fail
(so nobody counts twice, as approver and through a delegate).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from agentflow import ApprovalError, ApprovalRequest, call_digest
from agentflow.binding import ApprovalStage
from agentflow.temporal import (
    AgentClient,
    ApprovalResult,
    ApprovalTimers,
    ApprovalVote,
    create_worker,
)
from agentflow.temporal.contracts import ApprovalWorkflowInput, Delegation
from agentflow.temporal.devserver import DevServer
from agentflow.testing.channels import RecordingChannel

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = timedelta(hours=24)
ARGS = {"flight_id": "LX40", "price": 9000.0}
DIGEST = call_digest("book_flight", ARGS)
LEAVE = Delegation(
    approver="bob",
    delegate="dave",
    starts=datetime(2000, 1, 1, tzinfo=UTC),
    ends=datetime(2100, 1, 1, tzinfo=UTC),
)


class HeldOrgChart:
    """An org chart that says dave stands in for bob, once the test lets it answer."""

    def __init__(self) -> None:
        self.asked, self.answer = threading.Event(), threading.Event()

    def delegation(self, delegate: str, approvers: Sequence[str], at: datetime) -> Delegation:
        self.asked.set()
        self.answer.wait(timeout=20)
        return LEAVE


class Desk:
    def __init__(self, client: Client, queue: str, channel: RecordingChannel) -> None:
        self.client, self.queue, self.channel = client, queue, channel
        self.agents = AgentClient(client, task_queue=queue)
        self.started: list[WorkflowHandle[object, ApprovalResult]] = []

    async def start(
        self, *stages: ApprovalStage, editable: tuple[str, ...] = ()
    ) -> WorkflowHandle[object, ApprovalResult]:
        request = ApprovalRequest(
            tool="book_flight",
            tool_call_id="toolu_1",
            arguments=ARGS,
            digest=DIGEST,
            requester="alice",
            approvers=tuple(a for s in stages for a in s.eligible()),
            stages=stages,
            editable=editable,
        )
        handle = await self.client.start_workflow(
            "ApprovalWorkflow",
            ApprovalWorkflowInput(
                request=request,
                conversation_id="conv-mutants",
                timers=ApprovalTimers(remind_after=DAY, escalate_after=DAY, expire_after=DAY),
            ),
            id=f"approval-{uuid.uuid4().hex}",
            task_queue=self.queue,
            result_type=ApprovalResult,
        )
        self.started.append(handle)
        for _ in range(200):  # vote after being asked, as an approver does
            if "requested" in self.channel.kinds(handle.id):
                return handle
            await asyncio.sleep(0.05)
        raise AssertionError(f"{handle.id} never asked for approval")

    async def vote(
        self, handle: WorkflowHandle[object, ApprovalResult], approver: str, **kw: object
    ) -> ApprovalResult:
        fields: dict[str, object] = {"digest": DIGEST, "approve": True, "approver": approver}
        return await self.agents.decide(handle.id, ApprovalVote.model_validate(fields | kw))


async def accepted_updates(handle: WorkflowHandle[object, ApprovalResult]) -> int:
    history = await handle.fetch_history()
    return sum(
        event.HasField("workflow_execution_update_accepted_event_attributes")
        for event in history.events
    )


@pytest_asyncio.fixture(loop_scope="session")
async def org() -> HeldOrgChart:
    return HeldOrgChart()


@pytest_asyncio.fixture(loop_scope="session")
async def desk(dev_server: DevServer, org: HeldOrgChart) -> AsyncIterator[Desk]:
    client = await dev_server.client()
    channel = RecordingChannel()
    queue = f"mutants-{uuid.uuid4().hex}"
    async with create_worker(client, [], task_queue=queue, channel=channel, org=org):
        harness = Desk(client, queue, channel)
        yield harness
        org.answer.set()
        for handle in harness.started:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")


TWO_OF_THREE = ApprovalStage(approvers=("bob", "carol", "erin"), required=2)


@pytest.mark.parametrize(
    ("vote", "refusal"),
    [
        ({"approver": "alice"}, "requester cannot approve"),
        ({"approver": "mallory"}, "mallory is not an authorised approver"),
        ({"approver": "bob", "digest": call_digest("book_flight", {})}, "digest mismatch"),
        ({"approver": "bob", "approve": False}, "a denial needs a reason"),
        ({"approver": "bob", "edit": {"price": 100.0}}, "may not change price"),
    ],
    ids=["requester", "stranger", "other call", "denial without reason", "locked edit"],
)
async def test_the_validator_refuses_before_anything_enters_history(
    desk: Desk, vote: dict[str, object], refusal: str
) -> None:
    handle = await desk.start(TWO_OF_THREE)
    approver = str(vote.pop("approver"))
    with pytest.raises(ApprovalError, match=refusal):
        await desk.vote(handle, approver, **vote)
    assert await accepted_updates(handle) == 0
    assert (await desk.agents.approval_status(handle.id)).approved_by == ((),)


@pytest.mark.parametrize(
    "stages",
    [
        (TWO_OF_THREE,),
        (ApprovalStage(approvers=("bob",)), ApprovalStage(approvers=("dana",))),
    ],
    ids=["first of two votes", "first of two stages"],
)
async def test_only_the_vote_that_completes_the_approval_may_edit(
    desk: Desk, stages: tuple[ApprovalStage, ...]
) -> None:
    handle = await desk.start(*stages, editable=("price",))
    with pytest.raises(ApprovalError, match="only the vote that completes the approval can edit"):
        await desk.vote(handle, "bob", edit={"price": 8000.0})
    assert await accepted_updates(handle) == 0
    assert (await desk.agents.approval_status(handle.id)).approved_by[0] == ()


async def test_a_vote_counted_during_a_delegation_look_up_makes_the_delegate_decide_again(
    desk: Desk, org: HeldOrgChart
) -> None:
    handle = await desk.start(TWO_OF_THREE)
    delegate = asyncio.create_task(desk.vote(handle, "dave", delegation=LEAVE))
    assert await asyncio.to_thread(org.asked.wait, 10), "the workflow never asked the org chart"
    # Meanwhile bob, back from leave, votes himself: his approval counts once.
    partial = await desk.vote(handle, "bob")
    assert not partial.complete
    org.answer.set()
    with pytest.raises(ApprovalError, match="another vote was counted meanwhile"):
        await delegate
    status = await desk.agents.approval_status(handle.id)
    assert (status.state, status.approved_by) == ("pending", (("bob",),))
