"""Everything a Slack test needs, wired as in production: a worker whose approval channel
records to the ledger and posts to (fake) Slack, and the web app in front of the desk."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from agentflow import ApprovalRequest, call_digest
from agentflow.agent import Agent
from agentflow.approvals import ApprovalDesk, ApprovalLedger, LedgerChannel, OrgChart
from agentflow.approvals.slack import SlackChannel, SlackInteractions
from agentflow.approvals.summary import Summariser, default_summary
from agentflow.temporal import AgentClient, ApprovalResult, ApprovalTimers, create_worker
from agentflow.temporal.contracts import ApprovalWorkflowInput
from agentflow.temporal.registry import DepsFactory
from agentflow.web import create_app
from tests.approvals.fake_slack import SIGNING_SECRET, FakeSlack, signed
from tests.approvals.org import seed

ARGS = {"offer_id": "LX318-2026-12-16-B"}


@dataclass
class SlackEnv:
    client: Client
    queue: str
    org: OrgChart
    ledger: ApprovalLedger
    slack: FakeSlack
    desk: ApprovalDesk
    interactions: SlackInteractions
    http: httpx.AsyncClient
    worker: Worker

    @property
    def agents(self) -> AgentClient:
        return self.desk.agents

    async def start_approval(
        self,
        timers: ApprovalTimers | None = None,
        requester: str = "alice",
        provenance: dict[str, str] | None = None,
    ) -> tuple[str, ApprovalRequest]:
        request = ApprovalRequest(
            tool="book_flight",
            tool_call_id=f"call-{uuid.uuid4().hex[:8]}",
            arguments=ARGS,
            digest=call_digest("book_flight", ARGS),
            requester=requester,
            approvers=self.org.approver_chain(requester, 1_500),
            reasons=("business class needs a flight of 6 h or more (this one is 1.8 h)",),
            provenance=provenance or {},
        )
        conversation = f"conv-{uuid.uuid4().hex}"
        approval_id = f"{conversation}/approval/{request.tool_call_id}"
        await self.client.start_workflow(
            "ApprovalWorkflow",
            ApprovalWorkflowInput(
                request=request, conversation_id=conversation, timers=timers or ApprovalTimers()
            ),
            id=approval_id,
            task_queue=self.queue,
        )
        return approval_id, request

    async def result(self, approval_id: str) -> ApprovalResult:
        handle: WorkflowHandle[Any, ApprovalResult] = self.client.get_workflow_handle(
            approval_id, result_type=ApprovalResult
        )
        return await handle.result()

    async def send(self, payload: dict[str, Any], **sign: Any) -> httpx.Response:
        body, headers = signed(payload, **sign)
        return await self.http.post("/slack/interactions", content=body, headers=headers)

    async def untouched(self, approval_id: str) -> bool:
        handle = self.client.get_workflow_handle(approval_id)
        history = await handle.fetch_history()
        accepted = any(
            e.HasField("workflow_execution_update_accepted_event_attributes")
            for e in history.events
        )
        return (await self.agents.approval_status(approval_id)).state == "pending" and not accepted


@asynccontextmanager
async def slack_env(
    client: Client,
    engine: Engine,
    *,
    agents: list[Agent[Any, Any]] | None = None,
    deps: dict[str, DepsFactory] | None = None,
    summarise: Summariser = default_summary,
    org: OrgChart | None = None,
    ledger: ApprovalLedger | None = None,
) -> AsyncIterator[SlackEnv]:
    queue = f"slack-{uuid.uuid4().hex}"
    org = org or seed(OrgChart(engine))
    ledger = ledger or ApprovalLedger(engine, policy_version="test-policy")
    fake = await FakeSlack().start()
    web_client = AsyncWebClient(token=FakeSlack.TOKEN, base_url=fake.base_url)
    channel = LedgerChannel(ledger, SlackChannel(web_client, org, summarise=summarise))
    desk = ApprovalDesk(AgentClient(client, task_queue=queue), org)
    interactions = SlackInteractions(desk, web_client)
    app = create_app(desk, slack=interactions, signing_secret=SIGNING_SECRET, summarise=summarise)
    transport = httpx.ASGITransport(app=app)
    worker = create_worker(
        client, agents or [], task_queue=queue, deps=deps, channel=channel, org=org
    )
    try:
        async with worker, httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            yield SlackEnv(client, queue, org, ledger, fake, desk, interactions, http, worker)
            await interactions.drain()
    finally:
        await fake.stop()
