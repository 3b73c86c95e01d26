"""Approve with edits: an edit is a new call, checked again, and the ledger keeps all three.

An approver edit that raises the price above the cap is refused; one that picks a cheaper fare
executes exactly the edited call, and the proposed, approved and executed calls are stored.
In-process (``Agent.approve_edited`` + ``Agent.resume``) and on a real Temporal dev server
(the desk, the approval workflow's edit check, the agent workflow executing the edit).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from typer.testing import CliRunner

from agentflow import ApprovalDecision, ApprovalError, call_digest
from agentflow.approvals import ApprovalDesk, LedgerChannel, OrgChart
from agentflow.approvals.tables import now
from agentflow.cli import app
from agentflow.temporal import AgentClient, ApprovalResult, ApprovalVote, DevServer, create_worker
from agentflow.testing.channels import RecordingChannel
from agentflow.web.app import create_app
from tests.approvals.edit_agent import Shop, make_agent, shop_at
from tests.approvals.org import seed
from tests.approvals.slack_env import slack_env
from tests.temporal.support import bookings
from workflows.ids import approval_workflow_id

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROPOSED = {"flight_id": "LX14", "price": 2400.0}
CHEAPER = {"flight_id": "LX16", "price": 1800.0}


def assert_three_records(shop: Shop, approval_id: str, decision: ApprovalDecision) -> None:
    calls = shop.ledger.calls(approval_id)
    assert set(calls) == {"proposed", "approved", "executed"}
    proposed, approved, executed = calls["proposed"], calls["approved"], calls["executed"]
    assert (proposed.digest, json.loads(proposed.arguments)) == (
        call_digest("book_flight", PROPOSED),
        PROPOSED,
    )
    assert (approved.digest, json.loads(approved.arguments)) == (decision.digest, CHEAPER)
    assert (executed.digest, json.loads(executed.arguments)) == (decision.digest, CHEAPER)
    assert decision.digest == call_digest("book_flight", CHEAPER) != proposed.digest


def assert_edit_reported(output: str) -> None:
    """The tool result the model read says who edited the call and what was executed."""
    assert output.startswith("Booked: ")
    result = json.loads(output.removeprefix("Booked: "))
    assert result["approver_edit"] == {
        "edited_by": "bob",
        "executed": {"tool": "book_flight", "arguments": CHEAPER},
    }
    assert (result["flight_id"], result["price"]) == ("LX16", 1800.0)


# -- in-process ---------------------------------------------------------------------------------


async def test_in_process_edit_above_the_cap_is_refused_and_a_cheaper_fare_executes(
    tmp_path: Path,
) -> None:
    shop = shop_at(tmp_path / "shop.db")
    agent = make_agent("edit-in-process")
    paused = await agent.run("book LX14 2400", deps=shop, user="alice", conversation_id="conv-e")
    assert paused.status == "awaiting_approval"
    (request,) = paused.pending_approvals
    assert (request.editable, request.arguments) == (("flight_id", "price"), PROPOSED)
    approval_id = approval_workflow_id("conv-e", request.tool_call_id)
    shop.ledger.record_request(approval_id, "conv-e", request)
    before = paused.state.model_dump()

    with pytest.raises(ApprovalError, match="above the hard cap"):
        await agent.approve_edited(paused, request, {"price": 6000}, approver="bob", deps=shop)
    with pytest.raises(ApprovalError, match="mallory is not an authorised approver"):
        await agent.approve_edited(paused, request, CHEAPER, approver="mallory", deps=shop)
    with pytest.raises(ApprovalError, match="may not change traveller"):
        await agent.approve_edited(
            paused, request, {"traveller": "mallory"}, approver="bob", deps=shop
        )
    with pytest.raises(ApprovalError, match="invalid"):
        await agent.approve_edited(paused, request, {"price": "cheap"}, approver="bob", deps=shop)
    with pytest.raises(ApprovalError, match="changes nothing"):
        await agent.approve_edited(paused, request, {"price": 2400}, approver="bob", deps=shop)
    assert paused.state.model_dump() == before
    assert bookings(shop.engine) == []

    decision = await agent.approve_edited(paused, request, CHEAPER, approver="bob", deps=shop)
    assert (decision.edited_from, decision.arguments) == (request.digest, CHEAPER)
    shop.ledger.record_result(approval_id, ApprovalResult(decision=decision, decided_at=now()))
    result = await agent.resume(paused, [decision], deps=shop, user="alice")

    assert result.status == "completed"
    assert_edit_reported(result.output)
    (booking,) = bookings(shop.engine)
    assert (booking.flight_id, booking.price, booking.traveller) == ("LX16", 1800.0, "alice")
    assert_three_records(shop, approval_id, decision)


async def test_a_hand_made_edit_cannot_bypass_the_checks(tmp_path: Path) -> None:
    shop = shop_at(tmp_path / "shop.db")
    agent = make_agent("edit-forged")
    paused = await agent.run("book LX14 2400", deps=shop, user="alice", conversation_id="conv-f")
    (request,) = paused.pending_approvals
    before = paused.state.model_dump()

    def edited(arguments: dict[str, object], digest: str | None = None) -> ApprovalDecision:
        return ApprovalDecision(
            conversation_id=request.conversation_id,
            tool_call_id=request.tool_call_id,
            digest=digest or call_digest("book_flight", arguments),
            outcome="approved",
            approver="bob",
            edited_from=request.digest,
            arguments=arguments,
        )

    # Arguments that do not match the decision's digest: refused before anything changes.
    with pytest.raises(ApprovalError, match="do not match"):
        await agent.resume(paused, [edited(CHEAPER, digest=request.digest)], deps=shop)
    with pytest.raises(ApprovalError, match="invalid"):
        await agent.resume(paused, [edited({"flight_id": "LX16", "price": "x"})], deps=shop)
    assert paused.state.model_dump() == before

    # Above the hard cap: the executor evaluates the rules on the edited call and refuses it.
    result = await agent.resume(
        paused, [edited({"flight_id": "LX16", "price": 6000.0})], deps=shop, user="alice"
    )
    assert result.status == "completed"
    assert "hard cap" in result.output
    assert bookings(shop.engine) == []


# -- on Temporal --------------------------------------------------------------------------------


@dataclass
class Durable:
    agents: AgentClient
    desk: ApprovalDesk
    shop: Shop
    agent: str
    channel: RecordingChannel
    queue: str
    address: str


@pytest_asyncio.fixture(loop_scope="session")
async def durable(dev_server: DevServer, tmp_path: Path) -> AsyncIterator[Durable]:
    client = await dev_server.client()
    queue = f"edits-{uuid.uuid4().hex}"
    shop = shop_at(tmp_path / "shop.db")
    org = seed(OrgChart(shop.engine))
    agent = make_agent(f"edit-{uuid.uuid4().hex[:8]}")
    recording = RecordingChannel()
    async with create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: shop},
        channel=LedgerChannel(shop.ledger, recording),
        org=org,
    ):
        agents = AgentClient(client, task_queue=queue)
        desk = ApprovalDesk(agents, org)
        yield Durable(agents, desk, shop, agent.name, recording, queue, dev_server.address)


async def test_durable_edit_above_the_cap_is_refused_and_a_cheaper_fare_executes(
    durable: Durable,
) -> None:
    conversation = await durable.agents.start_conversation(durable.agent, user="alice")
    reply = await durable.agents.send(conversation, "book LX14 2400", sender="alice")
    assert reply.status == "awaiting_approval"
    (request,) = reply.approvals
    approval_id = approval_workflow_id(conversation, request.tool_call_id)
    desk = durable.desk

    with pytest.raises(ApprovalError, match="above the hard cap"):
        await desk.decide(
            approval_id, "bob", approve=True, digest=request.digest, edit={"price": 6000}
        )
    with pytest.raises(ApprovalError, match="may not change traveller"):
        vote = ApprovalVote(
            digest=request.digest, approver="bob", approve=True, edit={"traveller": "x"}
        )
        await durable.agents.decide(approval_id, vote)
    with pytest.raises(ApprovalError, match="only an approval can edit"):
        await desk.decide(
            approval_id, "bob", approve=False, digest=request.digest, reason="no", edit=CHEAPER
        )
    status = await durable.agents.approval_status(approval_id)
    assert (status.state, status.request) == ("pending", request)
    assert "decided" not in durable.channel.kinds(approval_id)

    result = await desk.decide(
        approval_id, "bob", approve=True, digest=request.digest, edit=CHEAPER
    )
    decision = result.decision
    assert (decision.outcome, decision.edited_from, decision.arguments) == (
        "approved",
        request.digest,
        CHEAPER,
    )

    final = await durable.agents.wait_for_turn(conversation, 1)
    assert final.status == "completed"
    assert_edit_reported(final.output)
    (booking,) = bookings(durable.shop.engine)
    assert (booking.flight_id, booking.price) == ("LX16", 1800.0)
    assert_three_records(durable.shop, approval_id, decision)
    decided = next(n for n in durable.channel.notices if n.kind == "decided")
    assert decided.decision is not None and decided.decision.arguments == CHEAPER


async def test_staged_approval_runs_the_call_once_every_stage_approved(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """Above the manager's limit the org chart adds a director stage; the call runs only after
    both, in order, and the executor checks the stages again before the tool body."""
    client = await dev_server.client()
    queue = f"stages-{uuid.uuid4().hex}"
    shop = shop_at(tmp_path / "shop.db", org=True)
    assert shop.org is not None
    org = seed(shop.org)
    agent = make_agent(f"staged-{uuid.uuid4().hex[:8]}")
    async with create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: shop},
        channel=LedgerChannel(shop.ledger, RecordingChannel()),
        org=org,
    ):
        agents = AgentClient(client, task_queue=queue)
        desk = ApprovalDesk(agents, org)
        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, "book LX14 4000", sender="alice")
        (request,) = reply.approvals
        assert [(s.approvers, s.escalate_to) for s in request.plan()] == [
            (("bob",), ()),
            (("dana",), ("erin",)),
        ]
        approval_id = approval_workflow_id(conversation, request.tool_call_id)

        with pytest.raises(ApprovalError, match="dana is not an authorised approver"):
            await desk.decide(approval_id, "dana", approve=True, digest=request.digest)
        first = await desk.decide(approval_id, "bob", approve=True, digest=request.digest)
        assert not first.complete
        assert bookings(shop.engine) == []
        with pytest.raises(ApprovalError, match="bob has already voted"):
            await desk.decide(
                approval_id, "bob", approve=True, digest=request.digest, reason="again"
            )
        final = await desk.decide(approval_id, "dana", approve=True, digest=request.digest)
        assert final.decision.stage_approvals == (("bob",), ("dana",))

        done = await agents.wait_for_turn(conversation, 1)
        assert done.status == "completed" and done.output.startswith("Booked: ")
        (booking,) = bookings(shop.engine)
        assert (booking.flight_id, booking.price) == ("LX14", 4000.0)
        record = shop.ledger.get(approval_id)
        assert record is not None and (record.state, record.authority) == ("approved", "dana")


async def test_cli_approves_with_edits(durable: Durable) -> None:
    conversation = await durable.agents.start_conversation(durable.agent, user="alice")
    (request,) = (
        await durable.agents.send(conversation, "book LX14 2400", sender="alice")
    ).approvals
    approval_id = approval_workflow_id(conversation, request.tool_call_id)
    environment = {
        "TEMPORAL_ADDRESS": durable.address,
        "DATABASE_URL": str(durable.shop.engine.url),
        "AGENTFLOW_TASK_QUEUE": durable.queue,
        "COLUMNS": "250",
    }

    async def cli(*args: str) -> tuple[int, str, str]:
        command = ["approvals", "approve", approval_id, "--as", "bob", "--yes", *args]
        result = await asyncio.to_thread(CliRunner().invoke, app, command, env=environment)
        # An unexpected exception (exit code 1) is part of the message when an assertion fails.
        return result.exit_code, result.stdout, result.stderr + repr(result.exception)

    code, _, error = await cli("--edit", "price=6000")
    assert code == 2 and "above the hard cap" in error, (code, error)
    code, _, error = await cli("--edit", "price")
    assert code == 2 and "field=value" in error, (code, error)
    assert (await durable.agents.approval_status(approval_id)).state == "pending"

    code, output, _ = await cli("--edit", "flight_id=LX16", "--edit", "price=1800")
    assert code == 0, output
    assert "approved" in output and "book_flight(flight_id=LX16, price=1800.0)" in output
    assert (await durable.agents.wait_for_turn(conversation, 1)).status == "completed"
    (booking,) = bookings(durable.shop.engine)
    assert (booking.flight_id, booking.price) == ("LX16", 1800.0)


async def test_inbox_approves_with_edits(durable: Durable) -> None:
    conversation = await durable.agents.start_conversation(durable.agent, user="alice")
    (request,) = (
        await durable.agents.send(conversation, "book LX14 2400", sender="alice")
    ).approvals
    approval_id = approval_workflow_id(conversation, request.tool_call_id)
    transport = httpx.ASGITransport(app=create_app(durable.desk))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        page = ""
        for _ in range(50):  # Temporal's visibility store may lag a moment
            page = (await http.get("/approvals", params={"as": "bob"})).text
            if approval_id in page:
                break
            await asyncio.sleep(0.1)
        article = next(a for a in page.split("<article>") if approval_id in a)
        assert 'name="edit.flight_id" value="LX14"' in article
        assert 'name="edit.price" value="2400.0"' in article
        hidden = dict(
            re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', article)[:3]
        )

        async def post(**edit: str) -> str:
            fields = hidden | {"decision": "approve"} | {f"edit.{k}": v for k, v in edit.items()}
            response = await http.post("/approvals/decide", params={"as": "bob"}, data=fields)
            assert response.status_code == 303
            return response.headers["location"]

        assert "above+the+hard+cap" in await post(flight_id="LX14", price="6000")
        assert (await durable.agents.approval_status(approval_id)).state == "pending"
        assert "approved+with+your+edits" in await post(flight_id="LX16", price="1800")
    assert (await durable.agents.wait_for_turn(conversation, 1)).status == "completed"
    (booking,) = bookings(durable.shop.engine)
    assert (booking.flight_id, booking.price) == ("LX16", 1800.0)


async def test_slack_decided_message_shows_the_edited_call(
    dev_server: DevServer, tmp_path: Path
) -> None:
    shop = shop_at(tmp_path / "shop.db")
    org = seed(OrgChart(shop.engine))
    agent = make_agent(f"slack-edit-{uuid.uuid4().hex[:8]}")
    client = await dev_server.client()
    async with slack_env(
        client,
        shop.engine,
        agents=[agent],
        deps={agent.name: lambda: shop},
        org=org,
        ledger=shop.ledger,
    ) as env:
        agents = AgentClient(client, task_queue=env.queue)
        conversation = await agents.start_conversation(agent.name, user="alice")
        (request,) = (await agents.send(conversation, "book LX14 2400", sender="alice")).approvals
        approval_id = approval_workflow_id(conversation, request.tool_call_id)
        (posted,) = await env.slack.wait_for("chat.postMessage", channel="U0BOB")

        await env.desk.decide(approval_id, "bob", approve=True, digest=request.digest, edit=CHEAPER)

        (update,) = await env.slack.wait_for("chat.update", ts=posted.response["ts"])
        outcome = update.args["blocks"][-1]["text"]["text"]
        digest = call_digest("book_flight", CHEAPER)
        assert outcome == (
            ":white_check_mark: *Approved with edits* by <@U0BOB>: "
            f'flight_id = "LX16", price = 1800.0 (executed call digest `{digest[:16]}`).'
        )
