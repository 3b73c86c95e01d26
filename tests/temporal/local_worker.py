"""A worker whose agent has only read-only tools, for the local activities' crash test.

``python -m tests.temporal.local_worker ADDRESS QUEUE AGENT AUDIT_DB`` runs until killed,
recording its audit trail into the SQLite file ``AUDIT_DB``, each span as it ends (what a
killed worker recorded is then all in the store). With ``AGENTFLOW_TEST_SLOW_SEATS`` set to a
path, the seat map's body writes that file and then hangs, so that the test can kill the worker
while the search, which ran beside it, has finished but its workflow task has not.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from agentflow import Agent, RunContext, tool
from agentflow.audit import configure_tracing
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock
from agentflow.temporal import connect, create_worker
from agentflow.testing import FunctionModel, text_response, tool_calls

SLOW_SEATS = "AGENTFLOW_TEST_SLOW_SEATS"


@tool
def search_flights(ctx: RunContext[None], destination: str) -> str:
    """Flights to a destination (reads only)."""
    return f"LX14 and LX16 to {destination}"


@tool
def seat_map(ctx: RunContext[None], flight_id: str) -> str:
    """The free seats of a flight (reads only)."""
    marker = os.environ.get(SLOW_SEATS)
    if marker:
        Path(marker).write_text("running")
        time.sleep(120)
    return f"{flight_id}: 12A and 14C free"


def plan(request: ModelRequest) -> ModelResponse:
    """Search and look at the seats at once, then report both."""
    results = [b for b in request.messages[-1].content if isinstance(b, ToolResultBlock)]
    if results:
        return text_response(" | ".join(r.content for r in results))
    return tool_calls(
        ("search_flights", {"destination": "ZRH"}, "call-search"),
        ("seat_map", {"flight_id": "LX14"}, "call-seats"),
    )


def local_agent(name: str) -> Agent[None]:
    return Agent(FunctionModel(plan), tools=[search_flights, seat_map], name=name)


async def main(address: str, queue: str, name: str, audit_db: str) -> None:
    tracing = configure_tracing(database_url=f"sqlite:///{audit_db}", batch=False, otlp=False)
    client = await connect(address)
    deps: dict[str, Any] = {name: lambda: None}
    worker = create_worker(
        client, [local_agent(name)], task_queue=queue, deps=deps, tracer_provider=tracing
    )
    print("worker ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
