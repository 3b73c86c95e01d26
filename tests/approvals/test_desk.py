"""Decisions go through the desk and the workflow's validator: only the chain, never the
requester, delegates only during the leave, and a refused decision changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.client import WorkflowHandle

from agentflow import ApprovalError, ApprovalRequest, call_digest
from agentflow.approvals import ApprovalDesk, ApprovalLedger, LedgerChannel, OrgChart
from agentflow.temporal import AgentClient, ApprovalResult, ApprovalVote, DevServer, create_worker
from agentflow.temporal.contracts import ApprovalWorkflowInput, Delegation
from agentflow.testing.channels import RecordingChannel
from tests.approvals.org import seed

pytestmark = pytest.mark.asyncio(loop_scope="session")

ARGS = {"offer_id": "LX318-2026-12-16-B"}


@dataclass
class Desk:
    desk: ApprovalDesk
    agents: AgentClient
    org: OrgChart
    ledger: ApprovalLedger
    queue: str

    async def request(self, requester: str = "alice", amount: float = 1_500) -> ApprovalRequest:
        return ApprovalRequest(
            tool="book_flight",
            tool_call_id=f"call-{uuid.uuid4().hex[:8]}",
            arguments=ARGS,
            digest=call_digest("book_flight", ARGS),
            requester=requester,
            approvers=self.org.approver_chain(requester, amount),
            reasons=("over the cap",),
        )

    async def start(self, requester: str = "alice") -> tuple[str, ApprovalRequest]:
        request = await self.request(requester)
        conversation = f"conv-{uuid.uuid4().hex}"
        approval_id = f"{conversation}/approval/{request.tool_call_id}"
        await self.agents.client.start_workflow(
            "ApprovalWorkflow",
            ApprovalWorkflowInput(request=request, conversation_id=conversation),
            id=approval_id,
            task_queue=self.queue,
        )
        return approval_id, request

    async def untouched(self, approval_id: str) -> bool:
        handle: WorkflowHandle[object, ApprovalResult] = self.agents.client.get_workflow_handle(
            approval_id
        )
        history = await handle.fetch_history()
        accepted = any(
            e.HasField("workflow_execution_update_accepted_event_attributes")
            for e in history.events
        )
        return (await self.agents.approval_status(approval_id)).state == "pending" and not accepted


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, sqlite_engine: Engine) -> AsyncIterator[Desk]:
    client = await dev_server.client()
    queue = f"desk-{uuid.uuid4().hex}"
    org = seed(OrgChart(sqlite_engine))
    ledger = ApprovalLedger(sqlite_engine)
    agents = AgentClient(client, task_queue=queue)
    # As in production, the worker records each notice in the ledger: the one writer.
    channel = LedgerChannel(ledger, RecordingChannel())
    async with create_worker(client, [], task_queue=queue, channel=channel, org=org):
        yield Desk(ApprovalDesk(agents, org), agents, org, ledger, queue)


def nothing_decided(ledger: ApprovalLedger, approval_id: str) -> bool:
    """No decision in the ledger: at most the request, recorded when it was made."""
    record = ledger.get(approval_id)
    return (record is None or record.state == "pending") and "approved" not in ledger.calls(
        approval_id
    )


async def test_the_approver_in_the_chain_decides(env: Desk) -> None:
    approval_id, request = await env.start()
    assert request.approvers == ("bob", "dana")

    result = await env.desk.decide(approval_id, "bob", approve=True, digest=request.digest)

    assert (result.decision.outcome, result.decision.approver, result.decided_by) == (
        "approved",
        "bob",
        "bob",
    )
    # The worker records the decision when the workflow tells its channel, then ends.
    assert await env.agents.approval_outcome(approval_id) == result
    record = env.ledger.get(approval_id)
    assert record is not None
    assert (record.state, record.decided_by, record.digest) == ("approved", "bob", request.digest)


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("alice", "requester cannot approve"),
        ("mallory", "mallory is not an authorised approver"),
        ("carol", "carol is not an authorised approver"),
        ("dana", "dana is not an authorised approver"),  # only after escalation
        ("zed", "zed is not an authorised approver"),  # named by no request, in no table
    ],
)
async def test_anyone_else_changes_nothing(env: Desk, who: str, error: str) -> None:
    approval_id, request = await env.start()
    with pytest.raises(ApprovalError, match=error):
        await env.desk.decide(approval_id, who, approve=True, digest=request.digest)
    assert await env.untouched(approval_id)
    assert nothing_decided(env.ledger, approval_id)


async def test_a_decision_for_other_arguments_changes_nothing(env: Desk) -> None:
    approval_id, _ = await env.start()
    other = call_digest("book_flight", {"offer_id": "LX318-2026-12-17-B"})
    with pytest.raises(ApprovalError, match="different call"):
        await env.desk.decide(approval_id, "bob", approve=True, digest=other)
    assert await env.untouched(approval_id)


async def test_unknown_approval_authorises_nothing(env: Desk) -> None:
    with pytest.raises(ApprovalError, match="no approval"):
        await env.desk.decide("conv-nope/approval/x", "bob", approve=True, digest="0" * 64)


async def test_an_approval_is_decided_once(env: Desk) -> None:
    approval_id, request = await env.start()
    await env.desk.decide(approval_id, "bob", approve=False, digest=request.digest, reason="no")
    with pytest.raises(ApprovalError, match="already denied"):
        await env.desk.decide(approval_id, "bob", approve=True, digest=request.digest)


async def test_the_validator_refuses_what_the_desk_would_refuse(env: Desk) -> None:
    """A client that skips the desk still meets the workflow's validator."""
    approval_id, request = await env.start()
    votes = [
        ApprovalVote(digest=request.digest, approver="alice", approve=True),
        ApprovalVote(digest=request.digest, approver="mallory", approve=True),
        ApprovalVote(digest="f" * 64, approver="bob", approve=True),
        ApprovalVote(
            digest=request.digest,
            approver="mallory",
            approve=True,
            delegation=Delegation(
                approver="mallory",
                delegate="mallory",
                starts=datetime.now(UTC) - timedelta(hours=1),
                ends=datetime.now(UTC) + timedelta(hours=1),
            ),
        ),
    ]
    for vote in votes:
        with pytest.raises(ApprovalError):
            await env.agents.decide(approval_id, vote)
    assert await env.untouched(approval_id)


async def test_a_delegate_decides_while_the_approver_is_on_leave(env: Desk) -> None:
    now = datetime.now(UTC)
    env.org.add_leave("bob", "carol", now - timedelta(hours=1), now + timedelta(days=3))
    approval_id, request = await env.start()

    # Carol's list shows it (visibility may lag a moment), as bob's delegate.
    mine = None
    for _ in range(50):
        mine = next(
            (p for p in await env.desk.pending("carol") if p.approval_id == approval_id), None
        )
        if mine is not None:
            break
        await asyncio.sleep(0.1)
    assert mine is not None and mine.delegation is not None
    assert mine.delegation.approver == "bob"
    assert approval_id not in {p.approval_id for p in await env.desk.pending("mallory")}
    result = await env.desk.decide(approval_id, "carol", approve=True, digest=request.digest)

    # The call runs under bob's authority (he is the chain); carol is recorded as who decided.
    assert (result.decision.approver, result.decided_by) == ("bob", "carol")
    assert await env.agents.approval_outcome(approval_id) == result
    record = env.ledger.get(approval_id)
    assert record is not None and (record.authority, record.decided_by) == ("bob", "carol")


async def test_delegation_ends_when_the_leave_ends(env: Desk) -> None:
    now = datetime.now(UTC)
    env.org.add_leave("bob", "carol", now - timedelta(days=3), now + timedelta(seconds=2))
    approval_id, request = await env.start()
    # Prepared while the leave lasts (e.g. a button clicked, a command typed)...
    delegation = env.desk.authority("carol", await env.agents.approval_status(approval_id))
    assert delegation is not None and delegation.approver == "bob"
    await asyncio.sleep(2.5)

    # ...but the leave is over: the org chart refuses, and so does the workflow's own clock.
    with pytest.raises(ApprovalError, match="carol is not an authorised approver"):
        await env.desk.decide(approval_id, "carol", approve=True, digest=request.digest)
    stale = ApprovalVote(
        digest=request.digest, approver="carol", approve=True, delegation=delegation
    )
    with pytest.raises(ApprovalError, match="not bob's delegate now"):
        await env.agents.decide(approval_id, stale)
    assert await env.untouched(approval_id)
    result = await env.desk.decide(approval_id, "bob", approve=True, digest=request.digest)
    assert result.decided_by == "bob"


async def test_a_delegate_cannot_approve_their_own_request(env: Desk) -> None:
    now = datetime.now(UTC)
    env.org.add_leave("bob", "alice", now - timedelta(hours=1), now + timedelta(days=1))
    approval_id, request = await env.start(requester="alice")
    with pytest.raises(ApprovalError, match="requester cannot approve"):
        await env.desk.decide(approval_id, "alice", approve=True, digest=request.digest)
    vote = ApprovalVote(
        digest=request.digest,
        approver="alice",
        approve=True,
        delegation=Delegation(
            approver="bob",
            delegate="alice",
            starts=now - timedelta(hours=1),
            ends=now + timedelta(1),
        ),
    )
    with pytest.raises(ApprovalError, match="requester cannot approve"):
        await env.agents.decide(approval_id, vote)
    assert await env.untouched(approval_id)


async def test_a_delegation_the_org_chart_does_not_have_is_refused(env: Desk) -> None:
    """A vote sent straight to Temporal claiming to stand in for bob counts for nothing: the
    workflow asks the org chart, which knows no such leave."""
    approval_id, request = await env.start()
    now = datetime.now(UTC)
    forged = ApprovalVote(
        digest=request.digest,
        approver="mallory",
        approve=True,
        delegation=Delegation(
            approver="bob",
            delegate="mallory",
            starts=now - timedelta(hours=1),
            ends=now + timedelta(hours=1),
        ),
    )
    with pytest.raises(ApprovalError, match="mallory is not an authorised approver"):
        await env.agents.decide(approval_id, forged)
    status = await env.agents.approval_status(approval_id)
    assert (status.state, status.approved_by) == ("pending", ((),))
    assert nothing_decided(env.ledger, approval_id)

    # Once the org chart has the leave, the delegate's vote counts, under bob's authority.
    env.org.add_leave("bob", "mallory", now - timedelta(hours=2), now + timedelta(hours=2))
    result = await env.desk.decide(approval_id, "mallory", approve=True, digest=request.digest)
    assert (result.decision.approver, result.decided_by) == ("bob", "mallory")


async def test_a_worker_without_an_org_chart_refuses_every_delegation(
    env: Desk, dev_server: DevServer
) -> None:
    client = await dev_server.client()
    queue = f"no-org-{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    env.org.add_leave("bob", "carol", now - timedelta(hours=1), now + timedelta(hours=1))
    async with create_worker(client, [], task_queue=queue, channel=RecordingChannel()):
        request = await env.request()
        approval_id = f"conv-{uuid.uuid4().hex}/approval/{request.tool_call_id}"
        await client.start_workflow(
            "ApprovalWorkflow",
            ApprovalWorkflowInput(request=request, conversation_id="c"),
            id=approval_id,
            task_queue=queue,
        )
        vote = ApprovalVote(
            digest=request.digest,
            approver="carol",
            approve=True,
            delegation=env.org.delegation("carol", ("bob",), now),
        )
        with pytest.raises(ApprovalError, match="no org chart"):
            await env.agents.decide(approval_id, vote)
        assert (await env.agents.approval_status(approval_id)).state == "pending"
        result = await env.agents.decide(
            approval_id, ApprovalVote(digest=request.digest, approver="bob", approve=True)
        )
        assert result.decision.approver == "bob"
