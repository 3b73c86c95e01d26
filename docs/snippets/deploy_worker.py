"""A production worker for the travel agent: Temporal cluster or Cloud, Slack, audit trail.

agentflow's commands read TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE but connect without TLS;
this script adds what a secured cluster or Temporal Cloud needs, from its own variables:
TEMPORAL_API_KEY (an API key, implies TLS), or TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY (mTLS).
"""

import asyncio
import os
import signal
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig

from agentflow import ConfigurationError
from agentflow.approvals.settings import ApprovalSettings, approval_channel
from agentflow.audit import configure_tracing
from agentflow.temporal import connect, create_worker
from examples.travel.agent import travel_agent
from examples.travel.org import trip_summary


async def temporal_client(settings: ApprovalSettings) -> Client:
    api_key = os.environ.get("TEMPORAL_API_KEY") or None
    cert, key = os.environ.get("TEMPORAL_TLS_CERT"), os.environ.get("TEMPORAL_TLS_KEY")
    if bool(cert) != bool(key):
        raise ConfigurationError("set both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, or neither")
    tls: bool | TLSConfig = api_key is not None
    if cert and key:
        tls = TLSConfig(
            client_cert=Path(cert).read_bytes(), client_private_key=Path(key).read_bytes()
        )
    return await connect(
        settings.temporal_address, settings.temporal_namespace, tls=tls, api_key=api_key
    )


async def main() -> None:
    settings = (
        ApprovalSettings.from_env()
    )  # DATABASE_URL, TEMPORAL_*, AGENTFLOW_TASK_QUEUE, SLACK_*
    agent, deps = travel_agent()  # Claude when ANTHROPIC_API_KEY is set
    company = deps()
    channel = approval_channel(  # the ledger, then Slack when SLACK_BOT_TOKEN is set
        settings, company.engine, ledger=company.ledger, summarise=trip_summary(company.flights)
    )
    tracing = configure_tracing()  # DATABASE_URL's audit store, and OTLP when OTEL_* says so
    client = await temporal_client(settings)
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
