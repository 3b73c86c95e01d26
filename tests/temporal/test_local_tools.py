"""Read-only tools run as local activities when asked; a tool that acts never does.

With ``DurableOptions(local_read_only_tools=True)`` the call of a tool with no side effects and
no preconditions runs in the worker that runs the conversation's workflow task: history records
a marker with its result instead of an activity the server schedules, dispatches and records.
A side-effecting tool (even one declared concurrent) and a tool with a precondition still run
as activities, whose retries and idempotency key the server keeps.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from agentflow import Agent, Allow, RunContext, precondition, tool
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock
from agentflow.preconditions import Decision
from agentflow.temporal import AgentClient, DevServer, DurableOptions, create_worker
from agentflow.temporal.converter import data_converter
from agentflow.temporal.plugin import AgentflowPlugin
from agentflow.testing import FunctionModel, text_response, tool_calls
from tests.temporal.support import tool_calls_run

pytestmark = pytest.mark.asyncio(loop_scope="session")


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
