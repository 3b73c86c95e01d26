"""Read-only tools run as local activities when asked; a tool that acts never does.

With ``DurableOptions(local_read_only_tools=True)`` the call of a tool with no side effects and
no preconditions runs in the worker that runs the conversation's workflow task: history records
a marker with its result instead of an activity the server schedules, dispatches and records.
A side-effecting tool (even one declared concurrent) and a tool with a precondition still run
as activities, whose retries and idempotency key the server keeps.

Where a local call meets the rest: a worker lost after the call ran but before its workflow
task completed makes the call run again, and the audit trail still shows it once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from agentflow import Agent, Allow, RunContext, precondition, tool
from agentflow.audit import configure_tracing, span_trees
from agentflow.audit.tree import SpanNode, steps_only
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock
from agentflow.preconditions import Decision
from agentflow.temporal import AgentClient, DevServer, DurableOptions, create_worker
from agentflow.temporal.converter import data_converter
from agentflow.temporal.plugin import AgentflowPlugin
from agentflow.testing import FunctionModel, text_response, tool_calls
from tests.temporal.local_worker import SLOW_SEATS
from tests.temporal.support import LOCAL_ACTIVITY_MARKER, tool_calls_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]


@tool
def search_flights(ctx: RunContext[None], destination: str) -> list[str]:
    """Flights to a destination (reads only)."""
    return [f"LX14 to {destination}"]


@tool(side_effects=True, concurrent=True)
def log_search(ctx: RunContext[None], destination: str) -> str:
    """Write the search to the employee's history (an effect, declared safe to interleave)."""
    return f"logged {destination} ({ctx.idempotency_key})"


@precondition
def always(ctx: RunContext[None], args: Any) -> Decision:
    """Anyone may check a budget."""
    return Allow()


@tool(requires=always)
def check_budget(ctx: RunContext[None], destination: str) -> str:
    """The budget left for a destination (reads only, but under a rule)."""
    return "1200 left"


def plan(request: ModelRequest) -> ModelResponse:
    if any(isinstance(b, ToolResultBlock) for b in request.messages[-1].content):
        return text_response("done")
    args = {"destination": "ZRH"}
    return tool_calls(
        ("search_flights", args, "call-search"),
        ("log_search", args, "call-log"),
        ("check_budget", args, "call-budget"),
    )


def _agent() -> Agent[None]:
    tools = [search_flights, log_search, check_budget]
    return Agent(FunctionModel(plan), tools=tools, name=f"local-{uuid.uuid4().hex[:8]}")


async def _converse(dev_server: DevServer, options: DurableOptions) -> WorkflowHistory:
    client = await dev_server.client()
    queue = f"local-tools-{uuid.uuid4().hex}"
    agent = _agent()
    agents = AgentClient(client, task_queue=queue)
    async with create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: None}):
        conversation = await agents.start_conversation(agent.name, user="alice", options=options)
        reply = await agents.send(conversation, "flights to Zurich", sender="alice")
        assert (reply.status, reply.output) == ("completed", "done")
        history = await client.get_workflow_handle(conversation).fetch_history()
    replayer = Replayer(
        workflows=[], data_converter=data_converter, plugins=[AgentflowPlugin([agent])]
    )
    await replayer.replay_workflow(history)
    return history


async def test_a_read_only_tool_runs_as_a_local_activity_and_tools_that_act_never_do(
    dev_server: DevServer,
) -> None:
    history = await _converse(dev_server, DurableOptions(local_read_only_tools=True))
    local, remote = tool_calls_run(history)
    assert local == ["call-search"]
    assert sorted(remote) == ["call-budget", "call-log"]


async def test_without_the_option_every_tool_runs_as_an_activity(dev_server: DevServer) -> None:
    local, remote = tool_calls_run(await _converse(dev_server, DurableOptions()))
    assert local == []
    assert sorted(remote) == ["call-budget", "call-log", "call-search"]


async def test_a_worker_lost_after_a_local_call_ran_leaves_each_call_once_in_the_trail(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """The search ran, its worker was killed before the workflow task recorded it: it runs again.

    Harmless for a read-only tool, but the trail must still show one call of each: the run
    on the lost worker (its record, or only the intent it wrote before the body ran) belongs
    to the same call as the run that counted, never a second call or a stray record.
    """
    queue, name = f"local-crash-{uuid.uuid4().hex}", f"local-crash-{uuid.uuid4().hex[:8]}"
    audit_db, marker = tmp_path / "audit.db", tmp_path / "seats-running"
    tracing = configure_tracing(database_url=f"sqlite:///{audit_db}", batch=False, otlp=False)
    store = tracing.store
    assert store is not None
    agents = AgentClient(await dev_server.client(), task_queue=queue, tracer_provider=tracing)
    workers = [_spawn_local_worker(dev_server.address, queue, name, audit_db, slow=marker)]
    try:
        options = DurableOptions(local_read_only_tools=True)
        conversation = await agents.start_conversation(name, user="alice", options=options)
        reply = asyncio.create_task(agents.send(conversation, "seats to Zurich", sender="alice"))

        def steps(step: str) -> list[SpanNode]:
            records = [s.record for s in store.conversation(conversation)]
            return [n for r in steps_only(span_trees(records)) for n in r.walk() if n.step == step]

        async with asyncio.timeout(60):
            # The seat map hangs on the first worker, the search beside it has been recorded.
            while not (marker.exists() and any(_call(n) == "call-search" for n in steps("tool"))):
                await asyncio.sleep(0.1)
        workers[0].kill()
        workers[0].wait(timeout=10)
        workers.append(_spawn_local_worker(dev_server.address, queue, name, audit_db))

        async with asyncio.timeout(90):
            answer = await reply
            while not steps("run"):  # the turn's span, written when the turn ended
                await asyncio.sleep(0.1)
        assert (answer.status, answer.output) == (
            "completed",
            "LX14 and LX16 to ZRH | LX14: 12A and 14C free",
        )
        history = await agents.client.get_workflow_handle(conversation).fetch_history()
        assert tool_calls_run(history) == (["call-search", "call-seats"], [])
        # The killed worker's task timed out with neither result recorded: both calls ran again.
        events = list(history.events)
        lost = [
            i
            for i, e in enumerate(events)
            if e.HasField("workflow_task_timed_out_event_attributes")
        ]
        ran = [
            i
            for i, e in enumerate(events)
            if e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
        ]
        assert lost and lost[0] < ran[0], "the killed worker recorded a result: nothing ran again"

        records = [s.record for s in store.conversation(conversation)]
        (root,) = steps_only(span_trees(records))
        (turn,) = [n for n in root.children if n.step == "run"]
        tools = [n for n in turn.children if n.step == "tool"]
        assert sorted(_call(n) for n in tools) == ["call-search", "call-seats"]
        assert {n.attributes["agentflow.tool.outcome"] for n in tools} == {"returned"}
        # Each body ran twice, once on each worker: both intents, under their one call.
        for node in tools:
            assert [c.step for c in node.children].count("intent") == 2, _call(node)
        assert sum(n.step == "intent" for n in root.walk()) == 4
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        tracing.shutdown()


def _call(node: SpanNode) -> str:
    return str(node.attributes.get("gen_ai.tool.call.id"))


def _spawn_local_worker(
    address: str, queue: str, name: str, audit_db: Path, *, slow: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != SLOW_SEATS}
    if slow is not None:
        env[SLOW_SEATS] = str(slow)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.temporal.local_worker", address, queue, name, str(audit_db)],
        cwd=ROOT,
        env=env,
    )
