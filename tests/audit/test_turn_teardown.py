"""A conversation torn down in the middle of a turn leaves OpenTelemetry's context alone.

A turn's span context is current in workflow code for the whole turn, across its awaits
(``agentflow.temporal.turns``). When the worker stops with the turn waiting for an approval, the
workflow is dropped from its cache and its coroutine closed, possibly by the garbage collector,
in whatever context that runs in: the turn must not try to detach a context it attached in
another one (OpenTelemetry logs "Failed to detach context" with a traceback).
"""

from __future__ import annotations

import gc
import logging
import uuid

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentflow.audit import AuditTracerProvider
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing.channels import RecordingChannel
from tests.audit.support import MESSAGE, Bookings, travel_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_worker_stopped_mid_turn_detaches_nothing_out_of_context(
    dev_server: DevServer,
    tracing: AuditTracerProvider,
    exported: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = await dev_server.client()
    queue = f"teardown-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    bookings = Bookings()
    caplog.set_level(logging.ERROR, logger="opentelemetry.context")
    async with create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: bookings},
        channel=RecordingChannel(),
        tracer_provider=tracing,
    ):
        agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
        conversation = await agents.start_conversation(agent.name, user="alice")
        reply = await agents.send(conversation, MESSAGE, sender="alice")
        assert reply.status == "awaiting_approval"  # the turn is open, its context current
    gc.collect()  # whatever the worker dropped is finalized here at the latest
    failures = [r for r in caplog.records if r.name == "opentelemetry.context"]
    assert failures == [], [r.getMessage() for r in failures]
    # The open turn was not recorded as finished by its teardown.
    assert not [s for s in exported.get_finished_spans() if s.name.startswith("invoke_agent ")]
