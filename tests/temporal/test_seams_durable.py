"""The promise at its seams, on Temporal: the same attacks as ``tests/test_seams.py``, where the
durable driver takes its own path (activities gathered by the workflow, turns as updates)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from agentflow import Agent, Allow, Deny, ModelUnavailable, RunContext, precondition, tool
from agentflow.messages import ModelRequest, ModelResponse, TextBlock, ToolResultBlock
from agentflow.preconditions import Decision
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import text_response, tool_call, tool_calls
from tests.test_seams import Wallet, assert_provider_accepts, enough_money, user_texts

pytestmark = pytest.mark.asyncio(loop_scope="session")


@precondition
def asked_to_pay(ctx: RunContext[Wallet], args: Any) -> Decision:
    """The user's latest message must ask to pay, and not say "not"."""
    said = ctx.latest_user_message.lower()
    return Allow() if "pay" in said and "not" not in said else Deny("the user did not ask to pay")


@tool(requires=enough_money & asked_to_pay, side_effects=True)
async def charge(ctx: RunContext[Wallet], amount: int) -> str:
    """Charge the wallet."""
    await asyncio.sleep(0.05)  # the window in which a concurrent call would slip through
    ctx.deps.balance -= amount
    ctx.deps.charges.append(amount)
    return f"charged {amount}"


@tool
def lookup(code: str) -> str:
    """Look a code up in a backend that is broken."""
    raise LookupError(f"no row for {code}; password=hunter2")


class Model:
    """Pays twice for "pay twice", looks up for "lookup"; down while ``down`` is set."""

    def __init__(self) -> None:
        self.down = False
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return "seams"

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if self.down:
            raise ModelUnavailable("connection refused")
        last = request.messages[-1]
        if any(isinstance(b, ToolResultBlock) for b in last.content):
            return text_response("done")
        text = next(b.text for b in last.content if isinstance(b, TextBlock))
        if text.startswith("lookup"):
            return tool_call("lookup", code="X1", id=f"look{len(self.requests)}")
        turn = len(self.requests)
        return tool_calls(
            ("charge", {"amount": 80}, f"a{turn}"), ("charge", {"amount": 80}, f"b{turn}")
        )


class Env:
    def __init__(self, agents: AgentClient, name: str, wallet: Wallet, model: Model) -> None:
        self.agents, self.name, self.wallet, self.model = agents, name, wallet, model


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer) -> AsyncIterator[Env]:
    client = await dev_server.client()
    queue = f"seams-{uuid.uuid4().hex}"
    model, wallet = Model(), Wallet(100)
    agent = Agent(model, tools=[charge, lookup], name=f"seams-{uuid.uuid4().hex[:8]}")
    worker = create_worker(client, [agent], task_queue=queue, deps={agent.name: lambda: wallet})
    async with worker:
        yield Env(AgentClient(client, task_queue=queue), agent.name, wallet, model)


async def test_two_charges_of_one_turn_run_one_after_the_other(env: Env) -> None:
    conversation = await env.agents.start_conversation(env.name, user="alice")
    reply = await env.agents.send(conversation, "pay twice", sender="alice")
    assert reply.status == "completed"
    assert env.wallet.charges == [80] and env.wallet.balance == 20
    transcript = await env.agents.transcript(conversation)
    results = [b for b in transcript.messages[2].content if isinstance(b, ToolResultBlock)]
    assert [r.is_error for r in results] == [False, True]


async def test_a_failed_turn_never_merges_into_the_next_message_durably(env: Env) -> None:
    conversation = await env.agents.start_conversation(env.name, user="alice")
    env.model.down = True
    failed = await env.agents.send(conversation, "pay 80 please", sender="alice")
    assert failed.status == "model_error"
    env.model.down = False
    stop = "Stop - do NOT pay anything."
    reply = await env.agents.send(conversation, stop, sender="alice")

    assert env.wallet.charges == []  # "pay 80 please" is not what the user says now
    assert reply.status in ("completed", "repeated_denial")
    transcript = await env.agents.transcript(conversation)
    assert user_texts(list(transcript.messages)) == ["pay 80 please", stop]
    assert_provider_accepts(list(transcript.messages))


async def test_a_tool_exception_is_an_error_result_and_the_conversation_goes_on(
    env: Env,
) -> None:
    conversation = await env.agents.start_conversation(env.name, user="alice")
    reply = await env.agents.send(conversation, "lookup X1", sender="alice")
    assert (reply.status, reply.output) == ("completed", "done")
    transcript = await env.agents.transcript(conversation)
    (result,) = (b for b in transcript.messages[2].content if isinstance(b, ToolResultBlock))
    assert result.is_error and "internal error" in result.content
    assert "hunter2" not in result.content
    again = await env.agents.send(conversation, "lookup X1", sender="alice")
    assert again.status == "completed"
