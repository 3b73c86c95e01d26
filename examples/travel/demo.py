"""``make demo``: the travel agent on embedded defaults, end to end.

Starts the embedded Temporal server (a SQLite file in the data folder: ``.agentflow/``, or the
folder ``AGENTFLOW_DATA_DIR`` names), a worker, the travel agent (Claude with
``ANTHROPIC_API_KEY``, otherwise the offline planner) and the web app (the employees' chat at
``/chat``, the approvers' inbox at ``/approvals``; ``DEMO_PORT``, default 8000), then either
chats with you in the terminal, or — with ``DEMO_SCRIPT=1`` or without a terminal — plays a
scripted conversation: "Book me a flight to NYC next Tuesday" through to a booking (the manager
approves a fare above the cap), then business class on a short flight, which the manager
denies, and an in-policy alternative booked instead. Every step goes to the audit trail (SQLite
in the data folder), which the web app shows per conversation and ``agentflow trace`` renders
in the terminal.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text
from starlette.applications import Starlette

from agentflow import ApprovalRequest
from agentflow.approvals import ApprovalDesk, LedgerChannel
from agentflow.approvals.links import timeline_path
from agentflow.approvals.settings import ApprovalSettings
from agentflow.approvals.signing import VOTE_KEYS_ENV, VoteKeys
from agentflow.audit import AuditStore, configure_tracing
from agentflow.cli.chat import read_line
from agentflow.datadir import data_dir
from agentflow.temporal import (
    AgentClient,
    AgentReply,
    ApprovalVote,
    DevServer,
    LiveText,
    LogChannel,
    Step,
    create_worker,
)
from agentflow.temporal.devrecord import SERVER_DB_NAME
from agentflow.web import Card, CardRenderer, Chat, create_app
from examples.travel.agent import travel_agent
from examples.travel.org import trip_summary

SCRIPT = (
    "Book me a flight to NYC next Tuesday",
    "Option 1",
    "Yes",
    "I need a business class flight to London on the 16th",
    "Book option 2",
    "Book option 1",
    "Show my trips",
)
"""The scripted conversation; bob decides as :func:`scripted_vote` says."""
console = Console()


async def main(scripted: bool) -> int:
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # The audit trail goes where `agentflow trace` and `agentflow audit verify` look for it when
    # run from this folder and this shell: decided before a scripted run points DATABASE_URL at
    # a company database of its own, which the shell knows nothing of.
    audit_url = ApprovalSettings.from_env().audit_database_url
    if scripted and "DATABASE_URL" not in os.environ:
        # A scripted run starts from an empty company database, so it shows the same every time.
        (folder / "travel-demo.db").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'travel-demo.db'}"
    # The desk signs votes and the worker verifies them: one key for this demo's stack.
    os.environ.setdefault(VOTE_KEYS_ENV, VoteKeys.generate("demo").to_env())
    agent, deps = travel_agent()
    if agent.model.name == "offline-travel-planner":
        console.print("[yellow]No ANTHROPIC_API_KEY: running on the offline travel planner.[/]")
    company = deps()
    assert company.org is not None and company.ledger is not None
    tracing = configure_tracing(database_url=audit_url)
    assert tracing.store is not None
    # The model's words as it writes them (with Claude), for the web chat to show.
    live = LiveText(company.engine)
    try:
        server = DevServer(db_file=folder / SERVER_DB_NAME, log_file=folder / "temporal.log")
        async with server as srv:
            client = await srv.client()
            queue = f"travel-demo-{uuid.uuid4().hex[:6]}"
            async with create_worker(
                client,
                [agent],
                task_queue=queue,
                deps={agent.name: deps},
                channel=LedgerChannel(company.ledger, LogChannel()),
                org=company.org,
                tracer_provider=tracing,
                live_text=live,
            ):
                agents = AgentClient(
                    client, task_queue=queue, tracer_provider=tracing, live_text=live
                )
                console.print(f"Temporal dev server at {srv.address}; worker on {queue!r}")
                desk = ApprovalDesk(agents, company.org)
                port = 0 if scripted else int(os.environ.get("DEMO_PORT", "8000"))
                chat = Chat(agents, agent.name, cards=TRAVEL_CARDS)
                async with serve(web_app(desk, chat, tracing.store), port) as url:
                    _link("Web chat", f"{url}/chat?as=alice")
                    _link("Approvals inbox", f"{url}/approvals?as=bob")
                    return await _converse(agents, agent.name, scripted, url)
    finally:
        tracing.shutdown()  # the last steps reach the audit store


async def _converse(agents: AgentClient, agent: str, scripted: bool, url: str) -> int:
    conversation = await agents.start_conversation(agent, user="alice")
    console.print(f"Conversation {conversation} as [bold]alice[/] (manager: bob)")
    _link("Audit trail", f"{url}{timeline_path(conversation)}?as=alice")
    console.print(f"In a terminal: agentflow trace {conversation}", soft_wrap=True)
    console.print("Check the trail: agentflow audit verify\n", soft_wrap=True)
    if not scripted:
        console.print(
            "To see an approval: ask for business class on a short flight ('business class "
            "flight to London on the 16th', then 'book option 1'): the booking waits for bob, "
            "who decides here, in the inbox, or with `agentflow approvals`.\n"
        )
    async for text in _script() if scripted else _ask():
        if not await _turn(agents, conversation, text, scripted) and scripted:
            return 1
    return 0


def _link(name: str, url: str) -> None:
    console.print(f"{name}: [bold]{url}[/]", soft_wrap=True)  # a URL stays on one line


def web_app(desk: ApprovalDesk, chat: Chat, audit: AuditStore | None = None) -> Starlette:
    """Inbox, chat and timelines; ``?as=`` names the person (a laptop demo, not a network)."""
    return create_app(desk, summarise=trip_summary(), chat=chat, audit=audit)


class _Server(uvicorn.Server):
    """Leaves Ctrl-C to the demo, which stops the web app, the worker and Temporal together."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def serve(app: Starlette, port: int) -> AsyncIterator[str]:
    """Runs ``app`` with uvicorn on this event loop (port 0: any free port); yields its URL."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # the server could not start (e.g. the port is taken): say why
                raise RuntimeError(f"the web app did not start on port {port}")
            await asyncio.sleep(0.05)
        (listener,) = server.servers
        host, bound = listener.sockets[0].getsockname()[:2]
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        await task


def _offer_card(offer: dict[str, Any], badge: str = "") -> Card:
    return Card(
        title=f"{offer['flight']} {offer['origin']} → {offer['destination']}",
        badge=badge,
        fields=(
            ("Departs", offer["departure"].replace("T", " ")),
            ("Arrives", offer["arrival"].replace("T", " ")),
            ("Cabin", f"{offer['cabin']} ({offer['duration_hours']:.1f} h)"),
            ("Price", f"{offer['price']:,.2f} EUR"),
        ),
        notes=tuple(f"Out of policy: {issue}" for issue in offer.get("policy_issues", ())),
    )


def _offer_cards(offers: Sequence[dict[str, Any]]) -> list[Card]:
    return [_offer_card(offer, f"Option {n}") for n, offer in enumerate(offers, start=1)]


def _booking_card(booking: dict[str, Any]) -> Card:
    fields = [
        ("Flight", booking["flight"]),
        ("Departs", booking["departure"].replace("T", " ")),
        ("Cabin", booking["cabin"]),
        ("Price", f"{booking['price']:,.2f} EUR"),
    ]
    if booking.get("approved_by"):
        fields.append(("Approved by", booking["approved_by"]))
    status = "Booked" if booking.get("status", "booked") == "booked" else "Cancelled"
    return Card(title=f"{status}: booking #{booking['id']}", fields=tuple(fields))


TRAVEL_CARDS: dict[str, CardRenderer] = {
    "search_flights": _offer_cards,
    "show_offer": lambda offer: [_offer_card(offer)],
    "book_flight": lambda booking: [_booking_card(booking)],
    "cancel_trip": lambda booking: [_booking_card(booking)],
    "list_my_trips": lambda trips: [_booking_card(trip) for trip in trips],
}
"""How the chat page shows the travel tools' results: offers, bookings and trips as cards."""


async def _script() -> AsyncIterator[str]:
    for line in SCRIPT:
        yield line


async def _ask() -> AsyncIterator[str]:
    console.print("Ask for a flight ('a flight to NYC next Tuesday'); an empty line quits.")
    # Read in a thread: the web app serves from this event loop while the terminal waits.
    while line := (await _input("[bold]alice>[/] ")).strip():
        yield line


async def _input(prompt: str) -> str:
    return await read_line(console, prompt)


def scripted_vote(request: ApprovalRequest) -> bool:
    """The scripted bob: a fare above the cap is fine, business class on a short flight is not."""
    return not any(reason.startswith("business class") for reason in request.reasons)


async def _turn(agents: AgentClient, conversation: str, text: str, scripted: bool) -> bool:
    if scripted:  # typed at the prompt, the line is on the screen already
        console.print(f"[bold cyan]alice:[/] {escape(text)}")
    reply = None
    async for item in agents.stream(conversation, text, sender="alice"):
        if isinstance(item, Step):
            if item.kind in ("tool_call", "approval_requested"):
                console.print(f"  [dim]· {item.kind}: {escape(item.summary)}[/]")
        elif isinstance(item, AgentReply):
            reply = item
    assert reply is not None
    if reply.status == "awaiting_approval":
        console.print(Panel(Text(reply.output), title="agent", border_style="yellow"))
        pending = dict(await agents.pending_approvals(conversation))
        for approval_id, status in pending.items():
            request = status.request
            approver = status.current_approvers[0]  # resolved from the org chart
            console.print(
                Panel(
                    Text(
                        f"{request.tool} {request.arguments}\nwhy: {'; '.join(request.reasons)}\n"
                        f"digest {request.digest[:16]}…"
                    ),
                    title=f"approval request for {approver}",
                    border_style="magenta",
                )
            )
            if scripted:
                approve = scripted_vote(request)
            else:
                answer = await _input(f"[bold]{approver}[/], approve? {escape('[y/N]')} ")
                approve = answer.strip().lower() in ("y", "yes")
            reason = "" if approve else "economy is fine for a short flight"
            vote = ApprovalVote(
                digest=request.digest, approver=approver, approve=approve, reason=reason
            )
            await agents.decide(approval_id, vote)
            decided = "approved" if approve else f"denied ({reason})"
            console.print(f"[magenta]{approver} {escape(decided)}.[/]")
        reply = await agents.wait_for_turn(conversation, reply.turn)
    style = "green" if reply.status == "completed" else "red"
    console.print(Panel(Text(reply.output), title="agent", border_style=style))
    return reply.status == "completed"


def run(scripted: bool) -> int:
    """Runs the demo; Ctrl-C or Ctrl-D stop it quietly (the stack shuts down in order)."""
    try:
        return asyncio.run(main(scripted))
    except (KeyboardInterrupt, EOFError):
        console.print("\nStopped.")
        return 130


if __name__ == "__main__":
    scripted = os.environ.get("DEMO_SCRIPT") == "1" or not sys.stdin.isatty()
    sys.exit(run(scripted))
