"""A travel worker whose approvals go to Slack, or to the log when Slack is not configured.

``agentflow dev`` runs workers with the log channel; this is the worker to run when approvers
should get Slack messages::

    export DATABASE_URL=sqlite:///.agentflow/agentflow.db  # bookings, org chart, ledger
    export SLACK_BOT_TOKEN=xoxb-…                          # optional: Slack
    python -m examples.travel.worker

and next to it ``agentflow approvals serve`` for Slack's clicks and the web inbox.
"""

from __future__ import annotations

import asyncio

from temporalio.worker import Worker

from agentflow.approvals.settings import ApprovalSettings, approval_channel
from agentflow.temporal import connect, create_worker
from examples.travel.agent import travel_agent
from examples.travel.org import trip_summary


async def build_worker(settings: ApprovalSettings) -> Worker:
    agent, deps = travel_agent()
    company = deps()
    channel = approval_channel(
        settings, company.engine, ledger=company.ledger, summarise=trip_summary(company.flights)
    )
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    return create_worker(
        client, [agent], task_queue=settings.task_queue, deps={agent.name: deps}, channel=channel
    )


async def main() -> None:
    worker = await build_worker(ApprovalSettings.from_env())
    print(f"travel worker on task queue {worker.task_queue!r}", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
