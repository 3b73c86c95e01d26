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
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from agentflow import (
    Agent,
    ApprovalError,
    ApprovalRequest,
    Deny,
    NeedsApproval,
    RunContext,
    call_digest,
    precondition,
    tool,
)
from agentflow.binding import ApprovalStage
from agentflow.messages import Message, TextBlock
from agentflow.preconditions import Decision
from agentflow.temporal import (
    AgentClient,
    ApprovalResult,
    ApprovalTimers,
    ApprovalVote,
    create_worker,
)
from agentflow.temporal.contracts import ApprovalWorkflowInput, Delegation
from agentflow.temporal.devserver import DevServer
from agentflow.testing import FunctionModel
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


ENDED = Delegation(
    approver="bob",
    delegate="frank",
    starts=datetime(2000, 1, 1, tzinfo=UTC),
    ends=datetime(2001, 1, 1, tzinfo=UTC),
)
"""What the org chart says of frank: he stood in for bob once, long ago."""


class HeldOrgChart:
    """An org chart that says dave stands in for bob, once the test lets it answer."""

    def __init__(self) -> None:
        self.asked, self.answer = threading.Event(), threading.Event()

    def delegation(self, delegate: str, approvers: Sequence[str], at: datetime) -> Delegation:
        if delegate == ENDED.delegate:
            return ENDED
        self.asked.set()
        self.answer.wait(timeout=20)
        return LEAVE


@precondition
def asked_for(ctx: RunContext[None], args: Any) -> Decision:
    """Only a flight the traveller asked for in the conversation; bob approves every booking."""
    said = " ".join(m.text for m in ctx.messages if m.role == "user")
    if args.flight_id not in said:
        return Deny(f"nobody asked for {args.flight_id}")
    return NeedsApproval("bookings need bob", approvers=["bob"], editable=["flight_id", "price"])


@tool(requires=asked_for, side_effects=True)
def book_flight(flight_id: str, price: float) -> str:
    """Book a flight."""
    return f"booked {flight_id}"


AGENT = Agent(FunctionModel(lambda request: "done"), tools=[book_flight], name="mutant-edits")
ASKED = (Message(role="user", content=(TextBlock(text="LX40, or LX16 if it is cheaper"),)),)


class Desk:
    def __init__(self, client: Client, queue: str, channel: RecordingChannel) -> None:
        self.client, self.queue, self.channel = client, queue, channel
        self.agents = AgentClient(client, task_queue=queue)
        self.started: list[WorkflowHandle[object, ApprovalResult]] = []

    async def start(
        self, *stages: ApprovalStage, editable: tuple[str, ...] = (), agent: str = ""
    ) -> WorkflowHandle[object, ApprovalResult]:
        request = ApprovalRequest(
            tool="book_flight",
            tool_call_id="toolu_1",
            arguments=ARGS,
            digest=DIGEST,
            requester="alice",
            conversation_id="conv-mutants",
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
                agent=agent,
                messages=ASKED if agent else (),
                latest_user_message=ASKED[0].text if agent else "",
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
    async with create_worker(client, [AGENT], task_queue=queue, channel=channel, org=org):
        harness = Desk(client, queue, channel)
        yield harness
        org.answer.set()
        for handle in harness.started:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                try:
                    await handle.terminate("test finished")
                except RPCError as exc:  # it completed since describe(): nothing left to stop
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise


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


async def test_a_delegate_never_makes_the_approver_they_stand_in_for_count_twice(
    desk: Desk, org: HeldOrgChart
) -> None:
    handle = await desk.start(TWO_OF_THREE)
    assert not (await desk.vote(handle, "bob")).complete
    org.answer.set()
    # dave claims to stand in for carol; the org chart says he stands in for bob, who voted.
    claim = LEAVE.model_copy(update={"approver": "carol"})
    with pytest.raises(ApprovalError, match="bob may not vote on this request again"):
        await desk.vote(handle, "dave", delegation=claim)
    status = await desk.agents.approval_status(handle.id)
    assert (status.state, status.approved_by) == ("pending", (("bob",),))


async def test_nobody_who_approved_an_earlier_stage_approves_a_later_one(desk: Desk) -> None:
    handle = await desk.start(TWO_OF_THREE, ApprovalStage(approvers=("bob", "dana")))
    first = await desk.vote(handle, "bob")
    assert (first.complete, first.decision.approver, first.decided_by) == (False, "bob", "bob")
    # carol's vote completes the first stage: the result names her, and the approval goes on.
    second = await desk.vote(handle, "carol")
    assert (second.complete, second.decision.approver) == (False, "carol")
    assert second.decision.stage_approvals == (("bob", "carol"), ())
    with pytest.raises(ApprovalError, match="bob has already voted"):
        await desk.vote(handle, "bob", reason="and for the second stage")
    status = await desk.agents.approval_status(handle.id)
    assert (status.state, status.approved_by) == ("pending", (("bob", "carol"), ()))


async def test_a_refused_signed_vote_sent_again_never_enters_history(desk: Desk) -> None:
    handle = await desk.start(TWO_OF_THREE)
    keys = desk.agents.vote_keys
    assert keys is not None
    vote = keys.sign(
        handle.id,
        ApprovalVote(
            digest=DIGEST,
            approver="frank",
            approve=True,
            delegation=ENDED.model_copy(update={"ends": LEAVE.ends}),
        ),
        now=datetime.now(UTC),
    )
    with pytest.raises(ApprovalError, match="frank is not bob's delegate now"):
        await desk.agents.decide(handle.id, vote)
    assert await accepted_updates(handle) == 1
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("decide", vote, id=f"again-{uuid.uuid4().hex}")
    assert "already sent once" in str(refused.value.cause)
    assert await accepted_updates(handle) == 1
    assert (await desk.agents.approval_status(handle.id)).approved_by == ((),)


async def test_an_approval_that_names_no_agent_refuses_an_edit_and_says_why(desk: Desk) -> None:
    handle = await desk.start(ApprovalStage(approvers=("bob",)), editable=("price",))
    with pytest.raises(ApprovalError, match=r"cannot check edits \(it names no agent\)"):
        await desk.vote(handle, "bob", edit={"price": 8000.0})
    assert await accepted_updates(handle) == 0


async def test_an_edit_is_judged_on_the_conversation_it_was_proposed_in(desk: Desk) -> None:
    handle = await desk.start(
        ApprovalStage(approvers=("bob",)), editable=("flight_id", "price"), agent=AGENT.name
    )
    with pytest.raises(ApprovalError, match="nobody asked for LX99"):
        await desk.vote(handle, "bob", edit={"flight_id": "LX99"})
    result = await desk.vote(handle, "bob", edit={"flight_id": "LX16"})
    assert result.complete
    assert result.decision.arguments == {"flight_id": "LX16", "price": 9000.0}
    assert (await handle.result()).decision == result.decision
