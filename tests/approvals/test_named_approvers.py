"""Approvers named by the rule decide on every channel, with nobody in any table.

``NeedsApproval(approvers=["bob"])`` names bob: the desk (and through it the CLI, the web inbox
and Slack) lets bob decide and nobody else, with an empty org chart or no directory at all. On
Slack, an approver named by Slack user id or by the email address of their Slack account is
reached and recognised without a table.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from typer.testing import CliRunner

from agentflow import ApprovalError, ApprovalRequest, call_digest
from agentflow.approvals import ApprovalDesk, NoDirectory, OrgChart
from agentflow.approvals.slack import APPROVE_ACTION
from agentflow.cli.main import app
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.temporal.contracts import ApprovalWorkflowInput
from agentflow.testing.channels import RecordingChannel
from agentflow.web import create_app
from tests.approvals.slack_env import SlackEnv, slack_env
from tests.approvals.test_slack import clicked, request_to

pytestmark = pytest.mark.asyncio(loop_scope="session")

ARGS = {"claim": "EXP-7", "amount": 240.0}


def request(approvers: tuple[str, ...]) -> ApprovalRequest:
    return ApprovalRequest(
        tool="reimburse",
        tool_call_id=f"call-{uuid.uuid4().hex[:8]}",
        arguments=ARGS,
        digest=call_digest("reimburse", ARGS),
        requester="alice",
        approvers=approvers,
        reasons=("above 100 EUR",),
    )


@dataclass
class Env:
    agents: AgentClient
    queue: str

    async def start(self, approvers: tuple[str, ...] = ("bob",)) -> tuple[str, ApprovalRequest]:
        made = request(approvers)
        conversation = f"conv-{uuid.uuid4().hex}"
        approval_id = f"{conversation}/approval/{made.tool_call_id}"
        await self.agents.client.start_workflow(
            "ApprovalWorkflow",
            ApprovalWorkflowInput(request=made, conversation_id=conversation),
            id=approval_id,
            task_queue=self.queue,
        )
        return approval_id, made


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer) -> AsyncIterator[Env]:
    client = await dev_server.client()
    queue = f"named-{uuid.uuid4().hex}"
    # No org chart anywhere: the worker has no directory either.
    async with create_worker(client, [], task_queue=queue, channel=RecordingChannel()):
        yield Env(AgentClient(client, task_queue=queue), queue)


async def listed(desk: ApprovalDesk, who: str, approval_id: str) -> bool:
    """Whether ``approval_id`` is among what ``who`` may decide, once visibility shows it."""
    for _ in range(100):
        if approval_id in [p.approval_id for p in await desk.pending()]:
            return approval_id in [p.approval_id for p in await desk.pending(who)]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{approval_id} never listed")


async def test_the_named_approver_decides_through_a_desk_without_directory(env: Env) -> None:
    desk = ApprovalDesk(env.agents, NoDirectory())
    approval_id, made = await env.start()
    assert await listed(desk, "bob", approval_id)
    assert not await listed(desk, "zed", approval_id)
    for who, error in [
        ("zed", "zed is not an authorised approver"),
        ("alice", "requester cannot approve"),
    ]:
        with pytest.raises(ApprovalError, match=error):
            await desk.decide(approval_id, who, approve=True, digest=made.digest)
    assert (await env.agents.approval_status(approval_id)).state == "pending"
    result = await desk.decide(approval_id, "bob", approve=True, digest=made.digest)
    assert (result.decision.outcome, result.decided_by) == ("approved", "bob")


async def test_the_cli_lists_and_approves_for_a_named_approver(env: Env, tmp_path: Path) -> None:
    approval_id, made = await env.start()
    assert await listed(ApprovalDesk(env.agents, NoDirectory()), "bob", approval_id)
    # A fresh application database: its org chart is empty.
    environ = {
        "TEMPORAL_ADDRESS": env.agents.client.service_client.config.target_host,
        "AGENTFLOW_TASK_QUEUE": env.queue,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "COLUMNS": "250",
    }

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["approvals", *args], env=environ)
        return result.exit_code, result.output

    code, shown = await asyncio.to_thread(invoke, "list", "--as", "bob")
    assert code == 0 and approval_id in shown, shown
    code, shown = await asyncio.to_thread(invoke, "list", "--as", "zed")
    assert code == 0 and approval_id not in shown, shown
    code, refused = await asyncio.to_thread(
        invoke, "approve", approval_id, "--as", "zed", "--digest", made.digest[:12], "--yes"
    )
    assert code == 2 and "zed is not an authorised approver" in refused, refused
    code, approved = await asyncio.to_thread(
        invoke, "approve", approval_id, "--as", "bob", "--digest", made.digest[:12], "--yes"
    )
    assert code == 0, approved
    assert (await env.agents.approval_status(approval_id)).state == "approved"


async def test_the_web_inbox_shows_and_decides_for_a_named_approver(
    env: Env, sqlite_engine: Engine
) -> None:
    import httpx

    desk = ApprovalDesk(env.agents, OrgChart(sqlite_engine))  # an empty org chart
    approval_id, _ = await env.start()
    assert await listed(desk, "bob", approval_id)
    web = create_app(desk)
    transport = httpx.ASGITransport(app=web, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        page = await http.get("/approvals", params={"as": "bob"})
        assert page.status_code == 200 and approval_id in page.text
        other = await http.get("/approvals", params={"as": "zed"})
        assert other.status_code == 200 and approval_id not in other.text


@pytest_asyncio.fixture(loop_scope="session")
async def slack(dev_server: DevServer, sqlite_engine: Engine) -> AsyncIterator[SlackEnv]:
    async with slack_env(
        await dev_server.client(), sqlite_engine, org=OrgChart(sqlite_engine)
    ) as env:
        env.slack.emails.update({"U0BOB": "bob@example.com", "U0MALLORY": "mallory@example.com"})
        yield env


async def start_on(env: SlackEnv, approvers: tuple[str, ...]) -> tuple[str, ApprovalRequest]:
    made = request(approvers)
    conversation = f"conv-{uuid.uuid4().hex}"
    approval_id = f"{conversation}/approval/{made.tool_call_id}"
    await env.client.start_workflow(
        "ApprovalWorkflow",
        ApprovalWorkflowInput(request=made, conversation_id=conversation),
        id=approval_id,
        task_queue=env.queue,
    )
    return approval_id, made


@pytest.mark.parametrize("approver", ["bob@example.com", "U0BOB"])
async def test_slack_reaches_and_recognises_an_approver_named_by_email_or_slack_id(
    slack: SlackEnv, approver: str
) -> None:
    approval_id, _ = await start_on(slack, (approver,))
    call = await request_to(slack, approval_id, "U0BOB")

    assert (await slack.send(clicked(call, APPROVE_ACTION, "U0MALLORY"))).status_code == 200
    await slack.interactions.drain()
    assert await slack.untouched(approval_id)
    (refusal,) = slack.slack.of("chat.postEphemeral", user="U0MALLORY")
    assert refusal.args["text"] == "You are not an approver of this request: nothing changed."

    assert (await slack.send(clicked(call, APPROVE_ACTION, "U0BOB"))).status_code == 200
    await slack.interactions.drain()
    result = await slack.result(approval_id)
    assert (result.decision.outcome, result.decided_by) == ("approved", approver)


async def test_slack_skips_an_approver_it_cannot_reach(slack: SlackEnv) -> None:
    """No Slack account has the address: the approver decides in the inbox or the CLI."""
    approval_id, _ = await start_on(slack, ("nobody@example.com",))
    (lookup,) = await slack.slack.wait_for("users.lookupByEmail", email="nobody@example.com")
    assert lookup.response["error"] == "users_not_found"
    assert (await slack.agents.approval_status(approval_id)).state == "pending"
    assert slack.slack.of("chat.postMessage") == []
