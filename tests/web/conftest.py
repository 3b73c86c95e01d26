"""One running travel stack for the web tests: Temporal, a worker, the web app on a real port.

Everything is real and local: ``temporal server start-dev`` from the venv, the travel agent on
the offline planner with the demo company in a SQLite file, and the web app served by uvicorn
on a free port, all on pytest-asyncio's session loop. Tests here therefore carry::

    pytestmark = pytest.mark.asyncio(loop_scope="session")
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine

from agentflow import Agent, ModelRequest, ModelResponse, RunContext, tool
from agentflow.approvals import ApprovalDesk
from agentflow.exceptions import ConfigurationError
from agentflow.models.deltas import report_delta
from agentflow.temporal import AgentClient, DevServer, LiveText, create_worker, registry
from agentflow.testing import FunctionModel, tool_call
from agentflow.web import Chat
from examples.travel.agent import build_agent
from examples.travel.demo import TRAVEL_CARDS, serve, web_app
from examples.travel.org import open_ledger, open_org
from examples.travel.store import open_store
from examples.travel.tools import TravelDeps

SECRET = b"web-tests-secret"
PROBE = "chat-probe"
"""A second agent for what the travel agent never does on cue: echo, hang in a tool, fail."""


def _probe_model(gate: asyncio.Event) -> FunctionModel:
    async def respond(request: ModelRequest) -> ModelResponse | str:
        if request.messages[-1].text == "write":
            # Writes its answer in two pieces, the second once the gate opens.
            report_delta("Writing ")
            await gate.wait()
            report_delta("the rest.")
            return "Writing the rest."
        return _probe_answer(request)

    return FunctionModel(respond)


def _probe_answer(request: ModelRequest) -> ModelResponse | str:
    last = request.messages[-1]
    results = [b for b in last.content if b.type == "tool_result"]
    if results:
        return f"the tool said: {results[0].content}"
    text = [b.text for b in last.content if b.type == "text"][-1]  # the latest of a merged turn
    if text == "hold":
        return tool_call("hold", id=f"toolu_hold_{len(request.messages)}")
    if text == "fail":
        raise ConfigurationError("the model is switched off for this test")
    return f"echo: {text}"


@tool
async def hold(ctx: RunContext[asyncio.Event]) -> str:
    """Waits until the test opens the gate, so the page can be seen while a tool runs."""
    await ctx.deps.wait()
    return "released"


def probe_agent(gate: asyncio.Event) -> Agent[asyncio.Event]:
    return Agent(_probe_model(gate), tools=[hold], name=PROBE)


@dataclass(frozen=True)
class Stack:
    url: str
    agents: AgentClient
    desk: ApprovalDesk
    chat: Chat
    engine: Engine
    agent: str
    gate: asyncio.Event
    """Opens the probe agent's ``hold`` tool, and lets its ``write`` answer finish."""


_running: dict[str, registry.RegisteredAgent] = {}
"""The agents of the session's stack, whose worker outlives every module."""


@pytest.fixture(autouse=True, scope="module")
def _module_registry() -> Iterator[None]:
    """The suite's registry isolation (tests/conftest.py), but the stack's agents stay.

    The stack may start in the middle of a module (its first test that needs it); the module's
    registry, restored when it ends, must not take the running worker's agents with it.
    """
    saved = dict(registry._agents)  # pyright: ignore[reportPrivateUsage]
    yield
    registry._agents.clear()  # pyright: ignore[reportPrivateUsage]
    registry._agents.update(saved | _running)  # pyright: ignore[reportPrivateUsage]


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    database: Path = tmp_path_factory.mktemp("web") / "travel.db"
    engine = open_store(f"sqlite:///{database}")
    deps = TravelDeps(engine=engine, org=open_org(engine), ledger=open_ledger(engine))
    gate = asyncio.Event()
    agent, probe = build_agent(), probe_agent(gate)
    live = LiveText(engine)  # the application database: the worker writes, the web app reads
    async with DevServer() as server:
        client = await server.client()
        queue = f"web-{uuid.uuid4().hex[:8]}"
        factories = {agent.name: lambda: deps, PROBE: lambda: gate}
        async with create_worker(
            client, [agent, probe], task_queue=queue, deps=factories, live_text=live
        ):
            _running.update((name, registry.registered(name)) for name in factories)
            agents = AgentClient(client, task_queue=queue, live_text=live)
            assert deps.org is not None
            desk = ApprovalDesk(agents, deps.org)
            chat = Chat(agents, agent.name, cards=TRAVEL_CARDS, secret=SECRET)
            async with serve(web_app(desk, chat), 0) as url:
                try:
                    yield Stack(url, agents, desk, chat, engine, agent.name, gate)
                finally:
                    gate.set()  # a test that failed while holding must not block the worker
                    # Modules after this package build agents of their own under these names.
                    for name, entry in _running.items():
                        if registry._agents.get(name) is entry:  # pyright: ignore[reportPrivateUsage]
                            del registry._agents[name]  # pyright: ignore[reportPrivateUsage]
                    _running.clear()
