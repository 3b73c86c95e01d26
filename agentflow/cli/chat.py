"""``agentflow chat``: talk to a durable agent from the terminal, step by step."""

from __future__ import annotations

from agentflow.extras import require

require("temporal", "agentflow.cli.chat")  # a missing extra is one line naming it

import asyncio
import io
import sys
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from agentflow.approvals.settings import ApprovalSettings
from agentflow.audit import configure_tracing
from agentflow.cli.loading import AgentReference, load_agent
from agentflow.cli.options import AddressOption, DataDirOption, NamespaceOption, use_data_dir
from agentflow.datadir import data_dir
from agentflow.events import ModelRetrying, TextDelta
from agentflow.exceptions import (
    AgentflowError,
    ConfigurationError,
    ConversationEnded,
    InvalidInput,
    NotParticipant,
    WorkflowPaused,
)
from agentflow.temporal.client import AgentClient
from agentflow.temporal.connection import TemporalConfig
from agentflow.temporal.contracts import AgentReply, Step
from agentflow.temporal.devrecord import read_dev_record
from agentflow.temporal.live import LiveText

STEP_STYLE = {
    "tool_call": "cyan",
    "approval_requested": "magenta",
    "approval_decided": "magenta",
}


def chat(
    user: Annotated[str, typer.Option("--as", help="Who is chatting (an employee id).")],
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            "-a",
            help="The agent, as for `agentflow dev`: package.module:name[@task-queue] "
            "(not needed with --conversation).",
            show_default=False,
        ),
    ] = None,
    conversation: Annotated[
        str | None, typer.Option(help="Continue this conversation instead of starting one.")
    ] = None,
    temporal_address: AddressOption = None,
    namespace: NamespaceOption = None,
    task_queue: Annotated[
        str, typer.Option(envvar="AGENTFLOW_TASK_QUEUE", help="The agent's task queue.")
    ] = "agentflow",
    data_dir: DataDirOption = None,
) -> None:
    """Chat with AGENT as USER; replies waiting for approval are followed until decided.

    A reference that does not load, or an agent the running `agentflow dev` does not serve, is
    refused before any conversation starts.
    """
    console = Console()
    use_data_dir(data_dir)
    try:
        if agent is None and conversation is None:
            raise ConfigurationError("pass --agent package.module:name, or --conversation ID")
        reference = AgentReference.parse(agent) if agent is not None else None
        queue = (reference.queue if reference else None) or task_queue
        config = TemporalConfig.load(temporal_address, namespace)
        # A conversation continued already names its agent.
        name = served_name(reference, config, queue) if reference and not conversation else ""
        asyncio.run(_chat(console, name, user, conversation, config, queue))
    except AgentflowError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except (KeyboardInterrupt, EOFError):
        console.print()


def served_name(reference: AgentReference, config: TemporalConfig, queue: str) -> str:
    """The name ``reference``'s agent is served under, checked against a running ``dev``.

    When the data folder's ``agentflow dev`` is the server ``config`` reaches, it says what it
    serves on ``queue``: a reference it serves needs no import, and any other is refused.
    Otherwise the reference is loaded here to learn the agent's name.
    """
    folder = data_dir()
    record = read_dev_record(folder)
    if record is None or (record.address, record.namespace) != (config.address, config.namespace):
        return load_agent(reference)[0].name
    served = record.serves(queue)
    for name, target in served.items():
        if target == reference.target:
            return name
    agent = load_agent(reference)[0]
    if agent.name in served:
        return agent.name
    listing = ", ".join(served.values()) or "no agent"
    raise ConfigurationError(
        f"--agent {reference.target!r}: the agentflow dev running from {folder} serves "
        f"{listing} on task queue {queue!r}, not {agent.name!r}"
    )


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
    settings = ApprovalSettings.from_env()
    tracing = configure_tracing(database_url=settings.audit_database_url)
    try:
        agents = AgentClient(
            await config.connect(),
            task_queue=task_queue,
            tracer_provider=tracing,
            # The workers' live text (the application database): the model's words as written.
            live_text=LiveText.from_url(settings.database_url),
        )
        await _converse(console, agents, agent, user, conversation)
    finally:
        tracing.shutdown()


async def _converse(
    console: Console, agents: AgentClient, agent: str, user: str, conversation: str | None
) -> None:
    if conversation is None:
        conversation = await agents.start_conversation(agent, user=user)
    console.print(f"[dim]conversation {conversation} — empty line or Ctrl-D to leave[/]")
    while text := (await read_line(console, f"[bold]{escape(user)}>[/] ")).strip():
        try:
            reply = await show_turn(console, agents, conversation, text, sender=user)
        except (NotParticipant, ConversationEnded):
            raise  # not this user's conversation, or over: nothing more to type here
        except (InvalidInput, WorkflowPaused) as exc:
            console.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
            continue
        if reply.status == "awaiting_approval":
            console.print("[magenta]waiting for the approver… (Ctrl-C to stop waiting)[/]")
            reply = await agents.wait_for_turn(conversation, reply.turn)
            await show_decisions(console, agents, conversation, reply.turn)
            show_reply(console, reply)


async def show_decisions(
    console: Console, agents: AgentClient, conversation: str, turn: int
) -> None:
    """Tell the employee how each approval of ``turn`` was decided, as it is decided."""
    for step in await agents.steps(conversation):
        if step.turn == turn and step.kind == "approval_decided":
            console.print(f"[bold magenta]{escape(decision_notice(step))}[/]")


def decision_notice(step: Step) -> str:
    """What the employee reads when an approval is decided, from its ``approval_decided`` step."""
    outcome = step.summary
    if outcome == "expired":
        return "Your request expired: nobody decided in time."
    who = step.data.get("approver") or "Your approver"
    reason = step.data.get("reason") or ""
    return f"{who} {outcome} your request" + (f": {reason}" if reason else ".")


async def read_line(console: Console, prompt: str) -> str:
    """A line from the terminal (``prompt`` is rich markup), read in a daemon thread.

    Not ``asyncio.to_thread``: on Ctrl-C, ``asyncio.run`` waits for its executor's threads, and
    the one blocked reading would hold the program until Enter is pressed. The thread reads the
    unbuffered file, not ``input()``: a daemon thread blocked inside ``sys.stdin``'s buffer
    holds its lock, and the interpreter then aborts at exit. End of input is ``EOFError``.
    """
    console.print(prompt, end="")
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def settle(value: str) -> None:
        if line.done():
            return
        if value:
            line.set_result(value.rstrip("\r\n"))
        else:
            line.set_exception(EOFError())

    def read() -> None:
        try:
            value = _read_stdin()
        except (OSError, ValueError):
            value = ""  # stdin closed under us: the same as its end
        if not loop.is_closed():
            loop.call_soon_threadsafe(settle, value)

    threading.Thread(target=read, name="agentflow-input", daemon=True).start()
    return await line


def _read_stdin() -> str:
    """One line of stdin ("" at its end), from the unbuffered file when there is one."""
    raw = getattr(getattr(sys.stdin, "buffer", None), "raw", None)
    if isinstance(raw, io.RawIOBase):
        return raw.readline().decode(errors="replace")
    return sys.stdin.readline()  # an in-memory stdin (a test's, an embedding's): never blocks


async def show_turn(
    console: Console, agents: AgentClient, conversation: str, text: str, *, sender: str
) -> AgentReply:
    """Send ``sender``'s ``text``, print each step as it happens, then the reply.

    With live text (see `agentflow.temporal.live`) the model's words are printed as they
    come; a reply whose words were all printed so is not printed again.
    """
    reply: AgentReply | None = None
    writing = _Writing(console)
    async for item in agents.stream(conversation, text, sender=sender):
        if isinstance(item, TextDelta):
            writing.add(item.text)
        elif isinstance(item, ModelRetrying):
            writing.end()
            console.print("  [yellow]· the model starts again[/]")
        elif isinstance(item, Step):
            if item.kind == "model_call":
                writing.end(item.summary)
            if item.kind in STEP_STYLE:
                writing.end()
                style = STEP_STYLE[item.kind]
                console.print(f"  [{style}]· {item.kind}: {escape(item.summary)}[/]")
        else:
            reply = item
    assert reply is not None  # stream() always ends with the reply
    shown = writing.end()
    if reply.status != "completed" or shown != reply.output:
        show_reply(console, reply)
    return reply


class _Writing:
    """The model's text of the call under way, printed as it comes (never as markup)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.text = ""
        self.last = ""

    def add(self, piece: str) -> None:
        if not piece:
            return
        if not self.text:
            self.console.print("[bold green]agent>[/] ", end="")
        self.text += piece
        self.console.print(Text(piece), end="", soft_wrap=True)

    def end(self, whole: str = "") -> str:
        """End the line if text was being written; returns the last call's text as shown.

        ``whole`` is the call's whole text: what the stream missed of its end is printed.
        """
        if self.text:
            if whole.startswith(self.text):
                self.add(whole[len(self.text) :])
            self.console.print()
            self.last, self.text = self.text, ""
        return self.last


def show_reply(console: Console, reply: AgentReply) -> None:
    style = {"completed": "green", "awaiting_approval": "yellow"}.get(reply.status, "red")
    # The agent's words are text, never rich markup: "[y/N]" or "[bold]" stay as typed.
    console.print(Panel(Text(reply.output), title=f"agent ({reply.status})", border_style=style))
