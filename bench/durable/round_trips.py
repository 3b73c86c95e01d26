"""Server work per conversation: agentflow with read-only tools as local activities, vs the floor.

Usage (from the repository root)::

    nice -n 10 .venv/bin/python -m bench.durable.round_trips [--conversations 30]

The floor (``FloorWorkflow``) runs the 7-step conversation as 7 activities, one per step: the
least a bare Temporal workflow that makes every step durable asks of the server. agentflow runs
the same conversation (``bench/agentflow_bench.py``'s agent: two read-only tools, a booking
under a precondition) twice: as activities (the default) and with
``DurableOptions(local_read_only_tools=True)``, where the two read-only calls run as local
activities inside the workflow task. Reported per conversation: server round trips (tasks the
server dispatched to a worker and took back: workflow tasks plus activity tasks, each a poll
and a completion), history events and bytes, and the dev server's CPU time (user + system,
``/proc``), over ``--conversations`` sequential conversations per variant on one in-memory dev
server, with the workers in this process; the CPU is the median of three rotated repeats.
Nothing here is timed but the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from statistics import median
from typing import Any

from bench import harness
from bench.durable.common import proc_cpu_s
from bench.durable.floor_activities import ACTIVITIES
from bench.durable.floor_workflow import FloorWorkflow

RESULTS_PATH = Path(__file__).resolve().parent / "round_trips.json"
VARIANTS = ("floor", "agentflow", "agentflow local")


def history_stats(events: Any) -> dict[str, int]:
    """Round trips (workflow + activity tasks), events and bytes of one history."""
    workflow_tasks = sum(e.HasField("workflow_task_completed_event_attributes") for e in events)
    activity_tasks = sum(e.HasField("activity_task_scheduled_event_attributes") for e in events)
    return {
        "round_trips": workflow_tasks + activity_tasks,
        "workflow_tasks": workflow_tasks,
        "activity_tasks": activity_tasks,
        "local_activities": sum(
            e.HasField("marker_recorded_event_attributes")
            and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
            for e in events
        ),
        "events": len(events),
        "bytes": sum(e.ByteSize() for e in events),
    }


async def measure(
    address: str, server_pid: int | None, n: int, repeats: int = 3
) -> dict[str, dict[str, Any]]:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from agentflow.temporal import AgentClient, DurableOptions, connect, create_worker
    from bench.durable.agentflow_agents import THROUGHPUT

    floor_client = await Client.connect(address)
    client = await connect(address)
    floor_queue = f"trips-floor-{uuid.uuid4().hex}"
    queue = f"trips-agentflow-{uuid.uuid4().hex}"
    conversations = AgentClient(client, task_queue=queue)

    async def floor() -> Any:
        workflow_id = f"floor-{uuid.uuid4().hex}"
        await floor_client.execute_workflow(
            FloorWorkflow.run, harness.PROMPT, id=workflow_id, task_queue=floor_queue
        )
        return await floor_client.get_workflow_handle(workflow_id).fetch_history()

    async def agentflow(options: DurableOptions) -> Any:
        conversation = f"trips-{uuid.uuid4().hex}"
        reply = await conversations.start_or_send(
            conversation, harness.PROMPT, agent=THROUGHPUT.name, user="alice", options=options
        )
        if reply.output != harness.FINAL_TEXT:
            raise RuntimeError(f"agentflow answered {reply.output!r}")
        return await client.get_workflow_handle(conversation).fetch_history()

    runs = {
        "floor": floor,
        "agentflow": lambda: agentflow(DurableOptions()),
        "agentflow local": lambda: agentflow(DurableOptions(local_read_only_tools=True)),
    }
    results: dict[str, dict[str, Any]] = {}
    cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    async with (
        Worker(
            floor_client, task_queue=floor_queue, workflows=[FloorWorkflow], activities=ACTIVITIES
        ),
        create_worker(client, [THROUGHPUT], task_queue=queue),
    ):
        for variant in VARIANTS:  # warm: a worker's first conversation imports and caches
            results[variant] = history_stats((await runs[variant]()).events)
        for repeat in range(repeats):  # rotated, so that no variant always runs first
            for variant in VARIANTS[repeat % 3 :] + VARIANTS[: repeat % 3]:
                before = proc_cpu_s(server_pid) if server_pid else 0.0
                for _ in range(n):
                    await runs[variant]()
                if server_pid:
                    cpu[variant].append((proc_cpu_s(server_pid) - before) * 1000 / n)
            print(f"  repeat {repeat + 1} of {repeats} measured", file=sys.stderr, flush=True)
    for variant in VARIANTS:
        taken = cpu[variant]
        results[variant]["server_cpu_ms"] = round(median(taken), 2) if taken else None
    return results


HEADERS = [
    "",
    "round trips",
    "workflow tasks",
    "activity tasks",
    "local",
    "events",
    "KiB",
    "server CPU",
]


def table(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    floor_cpu = results["floor"]["server_cpu_ms"]
    rows: list[list[str]] = []
    for variant, r in results.items():
        cpu = r["server_cpu_ms"]
        ratio = f" ({cpu / floor_cpu:.2f}x)" if cpu is not None and floor_cpu else ""
        rows.append(
            [
                variant,
                str(r["round_trips"]),
                str(r["workflow_tasks"]),
                str(r["activity_tasks"]),
                str(r["local_activities"]),
                str(r["events"]),
                f"{r['bytes'] / 1024:.1f}",
                "n/a" if cpu is None else f"{cpu:.1f} ms{ratio}",
            ]
        )
    return rows


def print_table(results: dict[str, dict[str, Any]], n: int) -> None:
    body = table(results)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(HEADERS)]
    print(
        f"Server work per 7-step conversation ({n} sequential conversations per variant, "
        "server CPU the median of 3 rotated repeats):"
    )
    print("  ".join(h.rjust(w) for h, w in zip(HEADERS, widths, strict=True)))
    for r in body:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


async def run(n: int) -> dict[str, dict[str, Any]]:
    from agentflow.temporal import DevServer

    async with DevServer() as server:
        process = getattr(server, "_process", None)  # for the server's CPU time; optional
        return await measure(server.address, process.pid if process is not None else None, n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", type=int, default=30, help="per variant")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.conversations))
    print_table(results, args.conversations)
    payload = {"conversations": args.conversations, "round_trips": results}
    RESULTS_PATH.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS_PATH.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
