"""``agentflow chat``: talk to a durable agent from the terminal, step by step."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from agentflow.exceptions import AgentflowError, InvalidInput
from agentflow.temporal.client import AgentClient
from agentflow.temporal.contracts import AgentReply, Step
from agentflow.temporal.devserver import connect

STEP_STYLE = {
    "tool_call": "cyan",
    "approval_requested": "magenta",
    "approval_decided": "magenta",
}


def chat(
    agent: Annotated[str, typer.Option("--agent", "-a", help="The registered agent's name.")],
    user: Annotated[str, typer.Option("--as", help="Who is chatting (an employee id).")],
    conversation: Annotated[
        str | None, typer.Option(help="Continue this conversation instead of starting one.")
    ] = None,
    temporal_address: Annotated[str, typer.Option(envvar="TEMPORAL_ADDRESS")] = "127.0.0.1:7233",
    task_queue: Annotated[str, typer.Option()] = "agentflow",
) -> None:
    """Chat with AGENT as USER; replies waiting for approval are followed until decided."""
    console = Console()
    try:
        asyncio.run(_chat(console, agent, user, conversation, temporal_address, task_queue))
    except AgentflowError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    except (KeyboardInterrupt, EOFError):
        console.print()


async def _chat(
    console: Console,
    agent: str,
    user: str,
    conversation: str | None,
    address: str,
    task_queue: str,
) -> None:
    agents = AgentClient(await connect(address), task_queue=task_queue)
    if conversation is None:
        conversation = await agents.start_conversation(agent, user=user)
    console.print(f"[dim]conversation {conversation} — empty line or Ctrl-D to leave[/]")
    while text := (await asyncio.to_thread(console.input, f"[bold]{user}>[/] ")).strip():
        try:
            reply = await show_turn(console, agents, conversation, text)
        except InvalidInput as exc:
            console.print(f"[red]{exc}[/]")
            continue
        if reply.status == "awaiting_approval":
            console.print("[magenta]waiting for the approver… (Ctrl-C to stop waiting)[/]")
            reply = await agents.wait_for_turn(conversation, reply.turn)
            show_reply(console, reply)


async def show_turn(
    console: Console, agents: AgentClient, conversation: str, text: str
) -> AgentReply:
    """Send ``text``, print each step as it happens, then the reply."""
    reply: AgentReply | None = None
    async for item in agents.stream(conversation, text):
        if isinstance(item, Step):
            if item.kind in STEP_STYLE:
                console.print(f"  [{STEP_STYLE[item.kind]}]· {item.kind}: {item.summary}[/]")
        else:
            reply = item
    assert reply is not None  # stream() always ends with the reply
    show_reply(console, reply)
    return reply


def show_reply(console: Console, reply: AgentReply) -> None:
    style = {"completed": "green", "awaiting_approval": "yellow"}.get(reply.status, "red")
    console.print(Panel(reply.output, title=f"agent ({reply.status})", border_style=style))
