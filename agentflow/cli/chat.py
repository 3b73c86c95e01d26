"""``agentflow chat``: talk to a durable agent from the terminal, step by step."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from agentflow.approvals.settings import ApprovalSettings
from agentflow.audit import configure_tracing
from agentflow.exceptions import AgentflowError, InvalidInput, NotParticipant
from agentflow.temporal.client import AgentClient
from agentflow.temporal.connection import TemporalConfig
from agentflow.temporal.contracts import AgentReply, Step

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
    temporal_address: Annotated[
        str | None,
        typer.Option(
            help="host:port of the Temporal frontend, over TEMPORAL_ADDRESS and the config "
            "file's profile (default 127.0.0.1:7233).",
            show_default=False,
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            help="Temporal namespace, over TEMPORAL_NAMESPACE and the profile (default 'default').",
            show_default=False,
        ),
    ] = None,
    task_queue: Annotated[
        str, typer.Option(envvar="AGENTFLOW_TASK_QUEUE", help="The agent's task queue.")
    ] = "agentflow",
) -> None:
    """Chat with AGENT as USER; replies waiting for approval are followed until decided."""
    console = Console()
    try:
        config = TemporalConfig.load(temporal_address, namespace)
        asyncio.run(_chat(console, agent, user, conversation, config, task_queue))
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
    config: TemporalConfig,
    task_queue: str,
) -> None:
    # The conversation's root span, each message and each step join one trace in the audit
    # trail only if the client that starts it records too.
    tracing = configure_tracing(database_url=ApprovalSettings.from_env().audit_database_url)
    try:
        agents = AgentClient(await config.connect(), task_queue=task_queue, tracer_provider=tracing)
        await _converse(console, agents, agent, user, conversation)
    finally:
        tracing.shutdown()


async def _converse(
    console: Console, agents: AgentClient, agent: str, user: str, conversation: str | None
) -> None:
    if conversation is None:
        conversation = await agents.start_conversation(agent, user=user)
    console.print(f"[dim]conversation {conversation} — empty line or Ctrl-D to leave[/]")
    while text := (await asyncio.to_thread(console.input, f"[bold]{user}>[/] ")).strip():
        try:
            reply = await show_turn(console, agents, conversation, text, sender=user)
        except NotParticipant:
            raise  # not this user's conversation: nothing more to type here
        except InvalidInput as exc:
            console.print(f"[red]{exc}[/]")
            continue
        if reply.status == "awaiting_approval":
            console.print("[magenta]waiting for the approver… (Ctrl-C to stop waiting)[/]")
            reply = await agents.wait_for_turn(conversation, reply.turn)
            show_reply(console, reply)


async def show_turn(
    console: Console, agents: AgentClient, conversation: str, text: str, *, sender: str
) -> AgentReply:
    """Send ``sender``'s ``text``, print each step as it happens, then the reply."""
    reply: AgentReply | None = None
    async for item in agents.stream(conversation, text, sender=sender):
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
