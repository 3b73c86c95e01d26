"""A travel worker whose approvals go to Slack, or to the log when Slack is not configured.

``agentflow dev`` and ``agentflow worker`` do the same with any agent; this module shows the
pieces for a worker you assemble yourself::

    export DATABASE_URL=sqlite:///.agentflow/agentflow.db  # bookings, org chart, ledger
    export SLACK_BOT_TOKEN=xoxb-…                          # optional: Slack
    python -m examples.travel.worker

and next to it ``agentflow approvals serve`` for Slack's clicks and the web inbox.
"""

from __future__ import annotations

import asyncio

from opentelemetry.sdk.trace import TracerProvider
from temporalio.worker import Worker

from agentflow import run_and_exit
from agentflow.approvals.settings import ApprovalSettings, approval_channel
from agentflow.audit import configure_tracing
from agentflow.temporal import create_worker
from examples.travel.agent import travel_agent
from examples.travel.org import trip_summary


async def build_worker(
    settings: ApprovalSettings, tracer_provider: TracerProvider | None = None
) -> Worker:
    agent, deps = travel_agent()
    company = deps()
    channel = approval_channel(
        settings, company.engine, ledger=company.ledger, summarise=trip_summary(company.flights)
    )
    client = await settings.temporal().connect()  # TEMPORAL_* / the temporal CLI's profile
    return create_worker(
        client,
        [agent],
        task_queue=settings.task_queue,
        deps={agent.name: deps},
        channel=channel,
        org=company.org,
        tracer_provider=tracer_provider,
    )


async def main() -> None:
    settings = ApprovalSettings.from_env()
    tracing = configure_tracing(database_url=settings.audit_database_url)
    try:
        worker = await build_worker(settings, tracing)
        print(f"travel worker on task queue {worker.task_queue!r}", flush=True)
        await worker.run()
    finally:
        tracing.shutdown()  # the last spans reach the audit store


if __name__ == "__main__":
    # Skips the interpreter's finalization once main() returns: the Temporal client's threads
    # can crash it after a clean stop (see agentflow.run_and_exit).
    run_and_exit(lambda: asyncio.run(main()))
