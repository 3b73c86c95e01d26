"""Read-only tools run as local activities when asked; a tool that acts never does.

With ``DurableOptions(local_read_only_tools=True)`` the call of a tool with no side effects and
no preconditions runs in the worker that runs the conversation's workflow task: history records
a marker with its result instead of an activity the server schedules, dispatches and records.
A side-effecting tool (even one declared concurrent) and a tool with a precondition still run
as activities, whose retries and idempotency key the server keeps.

Where a local call meets the rest: a worker lost after the call ran but before its workflow
task completed makes the call run again, and the audit trail still shows it once; a body that
raises, one that hangs past the tool's timeout, and one whose answer is too large for history
reach the model and the trail as they do from an activity.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
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
        # Both calls ran again at once on the second worker: history records their markers in
        # the order they finished, which either may win.
        local, remote = tool_calls_run(history)
        assert (sorted(local), remote) == (["call-search", "call-seats"], [])
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


@tool
def fare_rules(ctx: RunContext[None], fare: str) -> str:
    """The rules of a fare (reads only); its cache is down."""
    raise RuntimeError(f"fare cache unreachable for {fare}")


HUNG = threading.Event()
"""Holds ``slow_quote`` (set at the end of the test that hangs it)."""


@tool
def slow_quote(ctx: RunContext[None], fare: str) -> str:
    """A fare's price (reads only) from a service that hangs past the tool's timeout."""
    HUNG.wait(30)
    return f"{fare}: 420"


def _ask_once(tool_name: str) -> Callable[[ModelRequest], ModelResponse]:
    def plan(request: ModelRequest) -> ModelResponse:
        results = [b for b in request.messages[-1].content if isinstance(b, ToolResultBlock)]
        if results:
            (result,) = results
            return text_response(("Failed: " if result.is_error else "") + result.content)
        return tool_calls((tool_name, {"fare": "Y"}, "call-fare"))

    return plan


async def _traced_turn(
    dev_server: DevServer, tmp_path: Path, tool_: Any, options: DurableOptions
) -> tuple[str, WorkflowHistory, SpanNode]:
    """One turn that calls ``tool_``: the answer, the history, and the turn's steps as traced."""
    tracing = configure_tracing(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}", batch=False, otlp=False
    )
    store = tracing.store
    assert store is not None
    client = await dev_server.client()
    queue = f"local-tools-{uuid.uuid4().hex}"
    agent = Agent(
        FunctionModel(_ask_once(tool_.name)), tools=[tool_], name=f"local-{uuid.uuid4().hex[:8]}"
    )
    agents = AgentClient(client, task_queue=queue, tracer_provider=tracing)
    try:
        async with create_worker(
            client,
            [agent],
            task_queue=queue,
            deps={agent.name: lambda: None},
            tracer_provider=tracing,
        ):
            conversation = await agents.start_conversation(
                agent.name, user="alice", options=options
            )
            reply = await agents.send(conversation, "the fare's rules", sender="alice")
            assert reply.status == "completed", reply
            history = await client.get_workflow_handle(conversation).fetch_history()
        records = [s.record for s in store.conversation(conversation)]
    finally:
        tracing.shutdown()
    (root,) = steps_only(span_trees(records))
    (turn,) = [n for n in root.children if n.step == "run"]
    return reply.output, history, turn


@pytest.mark.parametrize("local", [True, False], ids=["local", "activity"])
async def test_a_read_only_tool_that_raises_is_an_answer_to_the_model_and_in_the_trail(
    dev_server: DevServer, tmp_path: Path, local: bool
) -> None:
    options = DurableOptions(local_read_only_tools=local)
    output, history, turn = await _traced_turn(dev_server, tmp_path, fare_rules, options)
    assert output == "Failed: fare_rules failed with an internal error; this call did not complete."
    assert tool_calls_run(history) == ((["call-fare"], []) if local else ([], ["call-fare"]))
    (call,) = [n for n in turn.children if n.step == "tool"]
    assert (call.attributes["agentflow.tool.outcome"], call.record.status) == ("failed", "error")
    assert call.attributes["error.type"] == "RuntimeError"
    assert "fare cache unreachable for Y" in call.attributes["agentflow.tool.error.detail"]
    assert [c.step for c in call.children] == ["precondition", "intent"]


@pytest.mark.parametrize("local", [True, False], ids=["local", "activity"])
async def test_a_read_only_tool_past_its_timeout_is_an_answer_to_the_model_and_in_the_trail(
    dev_server: DevServer, tmp_path: Path, local: bool
) -> None:
    options = DurableOptions(
        local_read_only_tools=local, tool_timeout=timedelta(seconds=1), tool_attempts=2
    )
    HUNG.clear()
    try:
        output, history, turn = await _traced_turn(dev_server, tmp_path, slow_quote, options)
    finally:
        HUNG.set()
    # Each attempt was cut at the timeout; the model is told, and the turn goes on.
    assert output.startswith("Failed: The tool failed: ") and "time" in output.lower(), output
    assert tool_calls_run(history) == ((["failed"], []) if local else ([], ["call-fare"]))
    attempts = [n for n in turn.children if n.step == "tool"]
    assert [(_call(n), n.record.status) for n in attempts] == [("call-fare", "error")] * 2
    assert {n.attributes["error.type"] for n in attempts} == {"CancelledError"}
    assert [[c.step for c in n.children] for n in attempts] == [["precondition", "intent"]] * 2


RULE_BOOKS: list[str] = []
"""The fares ``rule_book`` was asked for, once per run of its body."""


@tool
def rule_book(ctx: RunContext[None], fare: str) -> str:
    """A fare's whole rule book (reads only): more than a workflow's history can record."""
    RULE_BOOKS.append(fare)
    return f"Rules of {fare}. " + "Changes cost 50. " * 150_000


@pytest.mark.parametrize("local", [True, False], ids=["local", "activity"])
async def test_an_answer_too_large_for_history_is_an_answer_to_the_model_not_a_stall(
    dev_server: DevServer, tmp_path: Path, local: bool
) -> None:
    """Temporal refuses a payload over its limit, and the worker checks before it sends one.

    A local activity's result travels in the workflow task that records its marker: refused,
    that task failed again and again, running the tool once more each time, and the
    conversation never answered. As an activity, the result failed each of its five attempts.
    """
    RULE_BOOKS.clear()
    options = DurableOptions(local_read_only_tools=local)
    async with asyncio.timeout(60):
        output, history, turn = await _traced_turn(dev_server, tmp_path, rule_book, options)
    assert output.startswith("Failed: rule_book answered with "), output[:300]
    assert "more than a conversation can record" in output
    assert RULE_BOOKS == ["Y"]
    assert tool_calls_run(history) == ((["call-fare"], []) if local else ([], ["call-fare"]))
    (call,) = [n for n in turn.children if n.step == "tool"]
    assert (call.attributes["agentflow.tool.outcome"], call.attributes["error.type"]) == (
        "failed",
        "ResultTooLarge",
    )
