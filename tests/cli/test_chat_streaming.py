"""``agentflow chat`` prints the model's words as they come, once, and never as markup."""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
from pathlib import Path

from rich.console import Console

from agentflow import Agent
from agentflow.cli.chat import show_turn
from agentflow.messages import ModelRequest, ModelResponse
from agentflow.models.deltas import report_delta
from agentflow.temporal import AgentClient, DevServer, LiveText, create_worker
from agentflow.testing import FunctionModel, text_response
from agentflow.testing.anthropic_server import HOLD_LIMIT

ANSWER = "Your flight [bold]LX318[/] is booked."


class _Screen(io.StringIO):
    """A terminal that tells when ``marker`` has been printed."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.shown = asyncio.Event()

    def write(self, s: str) -> int:
        written = super().write(s)
        if self.marker in self.getvalue():
            self.shown.set()
        return written


async def test_the_answer_is_printed_as_it_comes_and_not_again(tmp_path: Path) -> None:
    gate = asyncio.Event()

    async def respond(request: ModelRequest) -> ModelResponse:
        report_delta("Your flight [bold]")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gate.wait(), HOLD_LIMIT)  # until the words are on screen
        report_delta("LX318[/] is booked.")
        return text_response(ANSWER)

    agent = Agent(FunctionModel(respond), name=f"tty-{uuid.uuid4().hex[:8]}")
    live = LiveText.from_url(f"sqlite:///{tmp_path / 'live.db'}")
    screen = _Screen("Your flight [bold]")
    console = Console(file=screen, width=200, color_system=None)
    async with DevServer() as server:
        client = await server.client()
        queue = f"tty-{uuid.uuid4().hex}"
        async with create_worker(client, [agent], task_queue=queue, live_text=live):
            agents = AgentClient(client, task_queue=queue, live_text=live)
            conversation = await agents.start_conversation(agent.name, user="ann")
            turn = asyncio.create_task(show_turn(console, agents, conversation, "hi", sender="ann"))
            await asyncio.wait(
                {turn, asyncio.create_task(screen.shown.wait())},
                timeout=60,
                return_when=asyncio.FIRST_COMPLETED,
            )
            assert screen.shown.is_set() and not turn.done()  # printed while the model writes
            gate.set()
            reply = await turn
    assert reply.output == ANSWER
    output = screen.getvalue()
    # Printed once, as typed (not eaten as markup), with what the stream missed filled in.
    assert output.count(ANSWER) == 1
    assert "agent (completed)" not in output  # no panel repeating it
