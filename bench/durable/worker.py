"""One variant's Temporal worker, in its own process: ``python -m bench.durable.worker VARIANT
ADDRESS TASK_QUEUE``.

Every variant gets a ``temporalio.worker.Worker`` with default options; only the workflows,
activities and plugins differ (the scale test may set ``max_cached_workflows`` through
``BENCH_DURABLE_MAX_CACHED_WORKFLOWS`` and ``sticky_queue_schedule_to_start_timeout``, in
seconds, through ``BENCH_DURABLE_STICKY_TIMEOUT_S``; unset by default). The orchestrator talks
to the worker over stdin/stdout, one line each way (replies are the JSON lines prefixed with
:data:`~bench.durable.common.MARKER`):

* at start-up the worker answers ``{"ready": ...}`` once it polls its task queue;
* ``stats`` -> CPU seconds (all threads), current and peak RSS, and the model/tool calls made;
* ``bookings`` -> conversation id -> ``CLOCK_MONOTONIC`` ns of each approved booking;
* ``quit`` or end of input -> graceful shutdown.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import traceback
from datetime import timedelta as _seconds
from typing import Any

from bench.durable.common import MARKER, proc_status_kib, self_cpu_s

VARIANTS = ("floor", "agentflow", "agentflow-approval", "pydantic-ai", "openai-agents")

MAX_CACHED_ENV = "BENCH_DURABLE_MAX_CACHED_WORKFLOWS"
STICKY_TIMEOUT_ENV = "BENCH_DURABLE_STICKY_TIMEOUT_S"

_write_lock = threading.Lock()


def reply(payload: dict[str, Any]) -> None:
    with _write_lock:
        sys.stdout.write(MARKER + json.dumps(payload) + "\n")
        sys.stdout.flush()


async def build_worker(variant: str, address: str, queue: str) -> Any:
    """Connect and build the variant's worker (imports only that variant's framework)."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    if variant == "floor":
        from bench.durable.floor_activities import ACTIVITIES
        from bench.durable.floor_workflow import FloorWorkflow

        client = await Client.connect(address)
        return Worker(client, task_queue=queue, workflows=[FloorWorkflow], activities=ACTIVITIES)
    if variant in ("agentflow", "agentflow-approval"):
        from agentflow.temporal import connect, create_worker
        from bench.durable import agentflow_agents

        agent = agentflow_agents.THROUGHPUT if variant == "agentflow" else agentflow_agents.APPROVAL
        options: dict[str, Any] = {}
        if os.environ.get(MAX_CACHED_ENV):  # the scale test's opt-in; default options otherwise
            options["max_cached_workflows"] = int(os.environ[MAX_CACHED_ENV])
        if os.environ.get(STICKY_TIMEOUT_ENV):
            sticky = _seconds(seconds=float(os.environ[STICKY_TIMEOUT_ENV]))
            options["sticky_queue_schedule_to_start_timeout"] = sticky
        client = await connect(address)
        return create_worker(client, [agent], task_queue=queue, **options)
    if variant == "pydantic-ai":
        from pydantic_ai.durable_exec.temporal import PydanticAIPlugin

        from bench.durable.pydantic_ai_workflow import PydanticAIBooker

        client = await Client.connect(address, plugins=[PydanticAIPlugin()])
        return Worker(client, task_queue=queue, workflows=[PydanticAIBooker])
    if variant == "openai-agents":
        from datetime import timedelta

        from agents import set_tracing_disabled
        from temporalio.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin

        from bench.durable import openai_agents_activities as acts
        from bench.durable.openai_agents_workflow import OpenAIAgentsBooker

        set_tracing_disabled(True)  # nothing is exported; same as the in-process bench
        plugin = OpenAIAgentsPlugin(
            model_params=ModelActivityParameters(start_to_close_timeout=timedelta(seconds=60)),
            model_provider=acts.ScriptedProvider(),
        )
        client = await Client.connect(address, plugins=[plugin])
        return Worker(
            client, task_queue=queue, workflows=[OpenAIAgentsBooker], activities=acts.ACTIVITIES
        )
    raise SystemExit(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")


def stats() -> dict[str, Any]:
    from bench.harness import METER

    memory = proc_status_kib()
    return {
        "cpu_s": self_cpu_s(),
        "rss_kib": memory.get("VmRSS"),
        "hwm_kib": memory.get("VmHWM"),
        "model_calls": METER.model_calls,
        "tool_calls": METER.tool_calls,
    }


def bookings() -> dict[str, Any]:
    booked = sys.modules.get("bench.durable.agentflow_agents")
    return {"bookings": dict(getattr(booked, "BOOKED_AT", {}))}


def serve_commands(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Answer the orchestrator's commands (on a thread: the event loop keeps running tasks)."""
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                reply(stats())
            elif command == "bookings":
                reply(bookings())
            elif command == "quit":
                break
            elif command:
                reply({"error": f"unknown command {command!r}"})
    finally:
        loop.call_soon_threadsafe(stop.set)


async def main(variant: str, address: str, queue: str) -> None:
    worker = await build_worker(variant, address, queue)
    stop = asyncio.Event()
    threading.Thread(
        target=serve_commands, args=(asyncio.get_running_loop(), stop), daemon=True
    ).start()
    async with worker:
        reply({"ready": True, "pid": os.getpid(), **stats()})
        await stop.wait()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    try:
        asyncio.run(main(*sys.argv[1:4]))
    except Exception:
        traceback.print_exc()
        status = 1
    else:
        status = 0
    # Ends as the agentflow command does: the Temporal client's threads could abort the
    # interpreter's finalization (``Fatal Python error: PyGILState_Release``) after a clean stop.
    # Imported only now, once the orchestrator has read the last figures: the workers of the
    # other frameworks (the floor above all) are measured without agentflow's modules loaded.
    from agentflow.exiting import end_process

    end_process(status)
