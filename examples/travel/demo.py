"""``make demo``: the travel agent on embedded defaults, end to end.

Starts the embedded Temporal server (SQLite file under ``.agentflow/``), a worker and the
travel agent (Claude with ``ANTHROPIC_API_KEY``, otherwise the offline planner), then either
chats with you in the terminal, or — with ``DEMO_SCRIPT=1`` or without a terminal — plays a
scripted conversation: an in-policy booking, then an out-of-policy one that the manager
approves.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from agentflow.temporal import AgentClient, ApprovalVote, DevServer, Step, create_worker
from examples.travel.agent import travel_agent

DATA = Path(".agentflow")
SCRIPT = (
    "Find me a flight from ZRH to LHR on 2026-12-14",
    "Book option 1",
    "I need a business class flight from ZRH to LHR on 2026-12-16",
    "Book option 2",
    "Show my trips",
)
console = Console()


async def main(scripted: bool) -> int:
    DATA.mkdir(exist_ok=True)
    if scripted and "DATABASE_URL" not in os.environ:
        # A scripted run starts from an empty company database, so it shows the same every time.
        (DATA / "travel-demo.db").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{DATA / 'travel-demo.db'}"
    agent, deps = travel_agent()
    if agent.model.name == "offline-travel-planner":
        console.print("[yellow]No ANTHROPIC_API_KEY: running on the offline travel planner.[/]")
    async with DevServer(db_file=DATA / "temporal.db", log_file=DATA / "temporal.log") as server:
        client = await server.client()
        queue = f"travel-demo-{uuid.uuid4().hex[:6]}"
        async with create_worker(client, [agent], task_queue=queue, deps={agent.name: deps}):
            agents = AgentClient(client, task_queue=queue)
            console.print(f"Temporal dev server at {server.address}; worker on {queue!r}")
            conversation = await agents.start_conversation(agent.name, user="alice")
            console.print(f"Conversation {conversation} as [bold]alice[/] (manager: bob)\n")
            for text in SCRIPT if scripted else _ask():
                if not await _turn(agents, conversation, text, scripted) and scripted:
                    return 1
    return 0


def _ask() -> Iterator[str]:
    console.print("Ask for a flight ('flight from ZRH to JFK on 2026-12-20'); empty line quits.")
    while line := console.input("[bold]alice>[/] ").strip():
        yield line


async def _turn(agents: AgentClient, conversation: str, text: str, scripted: bool) -> bool:
    console.print(f"[bold cyan]alice:[/] {text}")
    reply = None
    async for item in agents.stream(conversation, text):
        if isinstance(item, Step):
            if item.kind in ("tool_call", "approval_requested"):
                console.print(f"  [dim]· {item.kind}: {item.summary}[/]")
        else:
            reply = item
    assert reply is not None
    if reply.status == "awaiting_approval":
        console.print(Panel(reply.output, title="agent", border_style="yellow"))
        pending = dict(await agents.pending_approvals(conversation))
        for approval_id, status in pending.items():
            request = status.request
            approver = status.current_approvers[0]  # resolved from the org chart
            console.print(
                Panel(
                    f"{request.tool} {request.arguments}\nwhy: {'; '.join(request.reasons)}\n"
                    f"digest {request.digest[:16]}…",
                    title=f"approval request for {approver}",
                    border_style="magenta",
                )
            )
            approve = scripted or console.input(f"[bold]{approver}[/], approve? [y/N] ") == "y"
            vote = ApprovalVote(
                digest=request.digest,
                approver=approver,
                approve=approve,
                reason="" if approve else "not this one",
            )
            await agents.decide(approval_id, vote)
            console.print(f"[magenta]{approver} {'approved' if approve else 'denied'}.[/]")
        reply = await agents.wait_for_turn(conversation, reply.turn)
    style = "green" if reply.status == "completed" else "red"
    console.print(Panel(reply.output, title="agent", border_style=style))
    return reply.status == "completed"


if __name__ == "__main__":
    scripted = os.environ.get("DEMO_SCRIPT") == "1" or not sys.stdin.isatty()
    sys.exit(asyncio.run(main(scripted)))
