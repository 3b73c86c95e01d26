"""A worker process for the crash tests: ``python -m tests.temporal.worker_main ADDRESS QUEUE
AGENT DB``. Runs until killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from agentflow.temporal import connect, create_worker
from tests.temporal.support import engine_for, make_agent


async def main(address: str, queue: str, agent_name: str, db: str) -> None:
    client = await connect(address)
    engine = engine_for(Path(db))
    agent = make_agent(agent_name)
    worker = create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: engine})
    print("worker ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
