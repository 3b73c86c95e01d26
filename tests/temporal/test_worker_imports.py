"""A worker loads what its agents use, and nothing for the features they leave out.

Every module a worker imports stays in its memory for as long as it runs. A worker whose agents
have no SQL store, no provider's model and no tracing runs a conversation in a fresh
interpreter here, and what it loaded is read from ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from agentflow.temporal import AgentClient, DevServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(
    """
    import asyncio, json, sys

    from agentflow import Agent, tool
    from agentflow.temporal import connect, create_worker
    from agentflow.testing import TestModel

    @tool
    def search_flights(destination: str) -> list[str]:
        \"\"\"Search flights.\"\"\"
        return [f"AF1 to {destination}"]

    MODEL = TestModel(arguments={"search_flights": {"destination": "Lyon"}})
    AGENT = Agent(MODEL, tools=[search_flights], name="plain")

    async def main(address: str, queue: str) -> None:
        worker = create_worker(await connect(address), [AGENT], task_queue=queue)
        async with worker:
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        print(json.dumps(sorted(sys.modules)), flush=True)

    asyncio.run(main(*sys.argv[1:3]))
    """
)

NOT_NEEDED = (
    # OpenTelemetry's SDK and temporalio's tracing interceptor: nothing is traced
    "opentelemetry.sdk",
    "temporalio.contrib.opentelemetry",
    "agentflow.temporal.tracing",
    # stores: the agent has none, and the audit trail is off
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "psycopg",
    # providers' SDKs and HTTP: the model is the test model
    "anthropic",
    "openai",
    "httpx",
    "agentflow.models.anthropic",
    "agentflow.models.openai",
    # other integrations, the CLI and the web app
    "mcp",
    "slack_sdk",
    "starlette",
    "fastapi",
    "jsonschema",
    "rich",
    "typer",
    "agentflow.cli",
    "agentflow.web",
    "agentflow.temporal.client",
)


def _unneeded(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in NOT_NEEDED)


async def test_a_worker_without_store_provider_or_tracing_loads_none_of_them(
    dev_server: DevServer,
) -> None:
    queue = f"imports-{uuid.uuid4().hex}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        dev_server.address,
        queue,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        ready = await asyncio.wait_for(process.stdout.readline(), 120)
        assert ready == b"ready\n", (ready, await process.stderr.read() if process.stderr else b"")
        agents = AgentClient(await dev_server.client(), task_queue=queue)
        conversation = await agents.start_conversation("plain", user="sam")
        reply = await agents.send(conversation, "flights to Lyon", sender="sam")
        assert reply.status == "completed"
        process.stdin.write(b"done\n")
        await process.stdin.drain()
        loaded: list[str] = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    # What a worker does load: the check above looks at a worker that ran a conversation.
    assert "agentflow.temporal.activities" in loaded
    assert [m for m in loaded if _unneeded(m)] == []
