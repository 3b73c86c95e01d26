"""A production worker for the travel agent: Temporal cluster or Cloud, Slack, audit trail.

Temporal is reached as the `temporal` CLI reaches it: the config file's profile, then
TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_CLIENT_CERT_PATH, ...
"""

import asyncio
import signal
from datetime import timedelta

from agentflow import ConfigurationError
from agentflow.approvals.settings import ApprovalSettings, approval_channel
from agentflow.audit import configure_tracing
from agentflow.temporal import create_worker
from examples.travel.agent import travel_agent
from examples.travel.org import trip_summary


async def main() -> None:
    # DATABASE_URL, TEMPORAL_* (and the config file's profile), AGENTFLOW_TASK_QUEUE, SLACK_*
    settings = ApprovalSettings.from_env()
    agent, deps = travel_agent()  # Claude when ANTHROPIC_API_KEY is set
    company = deps()
    channel = approval_channel(  # the ledger, then Slack when SLACK_BOT_TOKEN is set
        settings, company.engine, ledger=company.ledger, summarise=trip_summary(company.flights)
    )
    tracing = configure_tracing()  # DATABASE_URL's audit store, and OTLP when OTEL_* says so
    client = await settings.temporal().connect()  # API key, TLS: whatever the profile says
    worker = create_worker(
        client,
        [agent],
        task_queue=settings.task_queue,
        deps={agent.name: deps},
        channel=channel,
        tracer_provider=tracing,
        graceful_shutdown_timeout=timedelta(seconds=30),  # lets running activities finish
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:  # on SIGTERM: stop polling, let running activities finish, exit
        print(f"worker on {settings.temporal_address}, task queue {worker.task_queue}", flush=True)
        await stop.wait()
    tracing.shutdown()
    print("worker stopped", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except ConfigurationError as exc:
        raise SystemExit(f"error: {exc}") from None
