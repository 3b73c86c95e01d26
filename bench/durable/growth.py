"""History per conversation as it grows: agentflow against the bare-Temporal floor.

Usage (from the repository root)::

    .venv/bin/python -m bench.durable.growth [--tool-calls 3,25,100]

One conversation per size and variant, each a single turn of ``N`` tool calls, each after a
model call (the shared script's three calls in turn), then the final answer: ``2N + 1`` steps,
7, 51 and 201 by default. Reported: history events and bytes summed over every run of the
conversation (agentflow continues as new within a long turn) and the largest single activity
input, next to the floor (``FloorGrowthWorkflow``: bare activities, a step counter as the only
input). A history that grows with the square of the conversation shows as bytes per step rising
with the size; a linear one stays flat.

Each size runs a second conversation that ends as the throughput bench's do
(``DurableOptions(idle_timeout=...)``: after a second idle it closes, its state as its result),
reported as "closed", next to the same floor (which ends with its reply). Workers run in this
process, on one in-memory dev server; nothing here is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import harness
from bench.durable.floor_activities import ACTIVITIES
from bench.durable.floor_workflow import FloorGrowthWorkflow

RESULTS_PATH = Path(__file__).resolve().parent / "growth.json"
SIZES = (3, 25, 100)
IDLE_TIMEOUT = timedelta(seconds=1)


@functools.cache
def growth_agent(tool_calls: int) -> Any:
    """agentflow's bench agent, asking for the script's calls in turn ``tool_calls`` times.

    One per size and process: a worker registers agents by name, one object per name."""
    from agentflow import Agent, Limits
    from agentflow.messages import ModelRequest, ModelResponse, TextBlock, ToolUseBlock
    from agentflow.testing import FunctionModel
    from bench import agentflow_bench

    def model(request: ModelRequest) -> ModelResponse:
        done = sum(
            1
            for m in request.messages
            for b in m.content
            if b.type == "tool_result" and not b.is_error
        )
        if done < tool_calls:
            name, args = harness.SCRIPT_JSON[done % len(harness.SCRIPT_JSON)]
            block = ToolUseBlock(id=f"call_{done}", name=name, input=json.loads(args))
            return ModelResponse(
                content=(block,), stop_reason="tool_use", usage=agentflow_bench.USAGE
            )
        return ModelResponse(
            content=(TextBlock(text=harness.FINAL_TEXT),), usage=agentflow_bench.USAGE
        )

    base = agentflow_bench.AGENT
    return Agent(
        FunctionModel(model),
        tools=list(base.tools.values()),
        limits=Limits(max_steps=2 * tool_calls + 10),
        name=f"growth-{tool_calls}",
    )


async def chain_stats(client: Any, workflow_id: str) -> dict[str, int]:
    """Events, bytes, runs and the largest activity or child input over a workflow's runs."""
    run_id: str | None = (await client.get_workflow_handle(workflow_id).describe()).run_id
    totals = {"events": 0, "bytes": 0, "runs": 0, "largest_input": 0}
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        totals["runs"] += 1
        totals["events"] += len(history.events)
        totals["bytes"] += sum(e.ByteSize() for e in history.events)
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                payloads = event.activity_task_scheduled_event_attributes.input.payloads
                totals["largest_input"] = max(
                    totals["largest_input"], sum(len(p.data) for p in payloads)
                )
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
    return totals


async def measure(address: str, sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from agentflow.temporal import AgentClient, DurableOptions, connect, create_worker

    rows: list[dict[str, Any]] = []
    floor_queue = f"growth-floor-{uuid.uuid4().hex}"
    floor_client = await Client.connect(address)
    client = await connect(address)
    agents = [growth_agent(n) for n in sizes]
    queue = f"growth-agentflow-{uuid.uuid4().hex}"
    async with (
        Worker(
            floor_client,
            task_queue=floor_queue,
            workflows=[FloorGrowthWorkflow],
            activities=ACTIVITIES,
        ),
        create_worker(client, agents, task_queue=queue),
    ):
        conversations = AgentClient(client, task_queue=queue)
        for n, agent in zip(sizes, agents, strict=True):
            floor_id = f"floor-{uuid.uuid4().hex}"
            await floor_client.execute_workflow(
                FloorGrowthWorkflow.run, n, id=floor_id, task_queue=floor_queue
            )
            ids: list[str] = []
            for options in (DurableOptions(), DurableOptions(idle_timeout=IDLE_TIMEOUT)):
                conversation = f"growth-{uuid.uuid4().hex}"
                reply = await conversations.start_or_send(
                    conversation, harness.PROMPT, agent=agent.name, user="alice", options=options
                )
                if reply.output != harness.FINAL_TEXT:
                    raise RuntimeError(f"agentflow at {n} tool calls answered {reply.output!r}")
                ids.append(conversation)
            await client.get_workflow_handle(ids[1]).result()  # closed once idle
            rows.append(
                {
                    "steps": 2 * n + 1,
                    "tool_calls": n,
                    "floor": await chain_stats(floor_client, floor_id),
                    "agentflow": await chain_stats(client, ids[0]),
                    "agentflow_closed": await chain_stats(client, ids[1]),
                }
            )
            print(f"  {2 * n + 1} steps measured", file=sys.stderr, flush=True)
    return rows


HEADERS = [
    "steps",
    "floor events",
    "agentflow events",
    "floor KiB",
    "agentflow KiB",
    "vs floor",
    "agentflow bytes/step",
    "largest input B",
    "agentflow runs",
    "closed: events",
    "closed: KiB",
    "closed: vs floor",
]


def table(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        floor, ours, closed = r["floor"], r["agentflow"], r["agentflow_closed"]
        out.append(
            [
                str(r["steps"]),
                str(floor["events"]),
                str(ours["events"]),
                f"{floor['bytes'] / 1024:.1f}",
                f"{ours['bytes'] / 1024:.1f}",
                f"{ours['bytes'] / floor['bytes']:.2f}x",
                f"{ours['bytes'] / r['steps']:.0f}",
                f"{ours['largest_input']} (floor {floor['largest_input']})",
                str(ours["runs"]),
                str(closed["events"]),
                f"{closed['bytes'] / 1024:.1f}",
                f"{closed['bytes'] / floor['bytes']:.2f}x",
            ]
        )
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    body = table(rows)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(HEADERS)]
    print("History per conversation, one turn of N tool calls (sum over its runs):")
    print("  ".join(h.rjust(w) for h, w in zip(HEADERS, widths, strict=True)))
    for r in body:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


async def run(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    from agentflow.temporal import DevServer

    async with DevServer() as server:
        return await measure(server.address, sizes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--tool-calls",
        default=",".join(map(str, SIZES)),
        help="comma-separated conversation sizes, in tool calls (steps = 2N + 1)",
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(n) for n in args.tool_calls.split(","))
    rows = asyncio.run(run(sizes))
    print_table(rows)
    RESULTS_PATH.write_text(json.dumps({"growth": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS_PATH.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
