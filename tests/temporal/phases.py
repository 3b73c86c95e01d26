"""Conversations and approvals stopped in every phase of an approval's life, as histories.

Approvals wait for days and teams deploy daily: new code must replay histories that stopped
anywhere in an approval (asked, reminded, escalated, decided in stages, by a delegate, with an
edit, several at once, across a continue-as-new, after turns past the continue-as-new limit),
and a conversation whose read-only tool runs as a local activity beside a booking that waits for
approval. :func:`record` plays each :data:`PHASES` scenario on the time-skipping test server
(the reminders and escalations fire at their real delays) and returns the histories, which
``test_phase_histories`` replays, and with ``AGENTFLOW_RECORD_HISTORIES=1`` commits under
``histories/`` (the newest set).

The agent's name is in every history, so it must not change; its precondition asks, by price:
up to 1000 nobody; up to 3000 bob (escalating to dana, who may also edit the fare); up to 4000
bob then dana (stages); up to 5000 two of dana, erin and frank; above 5000, never. Its one
read-only tool, ``search_flights``, runs as a local activity when the conversation asks for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from agentflow import Agent, Allow, Deny, NeedsApproval, RunContext, precondition, tool
from agentflow.approvals.records import Delegation
from agentflow.binding import ApprovalRequest, ApprovalStage
from agentflow.messages import ModelRequest, ModelResponse, TextBlock, ToolResultBlock
from agentflow.preconditions import Decision
from agentflow.temporal import AgentClient, ApprovalVote, DurableOptions, create_worker
from agentflow.testing import FunctionModel, text_response, tool_calls
from agentflow.testing.channels import RecordingChannel
from workflows.ids import approval_workflow_id

NAME = "phases-booker"
REMIND = timedelta(hours=4)
EXPIRE = timedelta(hours=24)
"""The default timers: a reminder after 4 h, escalation 4 h later, expiry a day after that."""


@precondition
def by_price(ctx: RunContext[None], args: Any) -> Decision:
    """Who must approve a fare, by its price (see the module docstring)."""
    price = args.price
    if price > 5_000:
        return Deny(f"price {price} is above the hard cap of 5000")
    if price > 4_000:
        two_of_three = ApprovalStage(approvers=("dana", "erin", "frank"), required=2)
        return NeedsApproval(f"price {price} is above 4000", stages=[two_of_three])
    if price > 3_000:
        return NeedsApproval(
            f"price {price} is above 3000",
            stages=[
                ApprovalStage(approvers=("bob",), name="manager"),
                ApprovalStage(approvers=("dana",), name="director"),
            ],
        )
    if price > 1_000:
        return NeedsApproval(
            f"price {price} is above 1000", approvers=["bob", "dana"], editable=["price"]
        )
    return Allow()


@tool(requires=by_price, side_effects=True)
def book_flight(ctx: RunContext[None], flight_id: str, price: float) -> dict[str, Any]:
    """Book a flight for the employee."""
    return {"booking": f"{ctx.idempotency_key}", "flight_id": flight_id, "price": price}


@tool
def search_flights(ctx: RunContext[None], destination: str) -> str:
    """Flights to a destination (reads only: no side effects, no preconditions)."""
    return f"LX14 and LX16 to {destination}"


def plan(request: ModelRequest) -> ModelResponse:
    """``book LX14 2400`` books one flight, ``book LX14 2400 LX16 1800`` two; then reports.

    ``search ZRH`` searches first, in the same answer: ``search ZRH book LX14 2400``.
    """
    last = request.messages[-1]
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    if results:
        return text_response(" | ".join(r.content for r in results))
    text = next(b.text for b in last.content if isinstance(b, TextBlock))
    words = text.split()
    searches: list[tuple[str, dict[str, Any], str]] = []
    if words[0] == "search":
        destination, words = words[1], words[2:]
        searches.append(("search_flights", {"destination": destination}, f"search-{destination}"))
        if not words:
            return tool_calls(*searches)
    if words[0] != "book":
        return text_response(f"You said: {text}")
    pairs = list(zip(words[1::2], words[2::2], strict=True))
    return tool_calls(
        *searches,
        *(
            ("book_flight", {"flight_id": flight, "price": float(price)}, f"call-{n}")
            for n, (flight, price) in enumerate(pairs, start=1)
        ),
    )


AGENT: Agent[None] = Agent(FunctionModel(plan), tools=[book_flight, search_flights], name=NAME)


def phases_agent() -> tuple[Agent[None], Any]:
    """For ``agentflow replay --agent tests.temporal.phases:phases_agent``."""
    return AGENT, lambda: None


class Leaves:
    """The org chart's one leave: carol stands in for bob, whenever the workflow asks."""

    def delegation(
        self, delegate: str, approvers: Sequence[str], at: datetime
    ) -> Delegation | None:
        if delegate != "carol" or "bob" not in approvers:
            return None
        return Delegation(
            approver="bob",
            delegate="carol",
            starts=at - timedelta(days=30),
            ends=at + timedelta(days=30),
        )


@dataclass
class Run:
    """One scenario's conversation on the time-skipping server."""

    env: WorkflowEnvironment
    agents: AgentClient
    channel: RecordingChannel
    conversation: str = ""
    approvals: list[str] = field(default_factory=list[str])

    async def ask(self, text: str, *, options: DurableOptions | None = None) -> ApprovalRequest:
        """Start the conversation with ``text``; the first approval it asks for, once asked."""
        self.conversation = await self.agents.start_conversation(
            NAME, user="alice", options=options
        )
        reply = await self.agents.send(self.conversation, text, sender="alice")
        assert reply.status == "awaiting_approval", reply
        for request in reply.approvals:
            approval_id = approval_workflow_id(self.conversation, request.tool_call_id)
            self.approvals.append(approval_id)
            await self.asked(approval_id)
        return reply.approvals[0]

    async def asked(self, approval_id: str) -> None:
        # A vote sent before the approval's first task would be counted before it asked anyone.
        for _ in range(400):
            if "requested" in self.channel.kinds(approval_id):
                return
            await asyncio.sleep(0.025)
        raise AssertionError(f"{approval_id} never asked for approval")

    async def vote(
        self, request: ApprovalRequest, approver: str, *, approve: bool = True, **kw: Any
    ) -> None:
        approval_id = approval_workflow_id(self.conversation, request.tool_call_id)
        vote = ApprovalVote(
            digest=request.digest, approver=approver, approve=approve, reason="ok", **kw
        )
        await self.agents.decide(approval_id, vote)

    async def finish_turn(self, turn: int = 1) -> None:
        reply = await self.agents.wait_for_turn(self.conversation, turn)
        assert reply.status == "completed", reply

    async def histories(self) -> list[WorkflowHistory]:
        """Every run of the conversation and its approvals, as the server has them now."""
        found: list[WorkflowHistory] = []
        for workflow_id in (self.conversation, *self.approvals):
            found += await runs_of(self.env.client, workflow_id)
        return found


async def runs_of(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """The histories of every run of ``workflow_id``, first run first (continue-as-new)."""
    runs: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.insert(0, history)
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return runs
        run_id = started.continued_execution_run_id


async def _waiting(run: Run) -> None:
    await run.ask("book LX14 2400")


async def _reminded(run: Run) -> None:
    await run.ask("book LX14 2400")
    await run.env.sleep(REMIND + timedelta(minutes=1))
    assert run.channel.kinds(run.approvals[0])[-1] == "reminder"


async def _escalated(run: Run) -> None:
    request = await run.ask("book LX14 2400")
    await run.env.sleep(2 * REMIND + timedelta(minutes=1))
    assert run.channel.kinds(run.approvals[0])[-1] == "escalated"
    await run.vote(request, "dana")
    await run.finish_turn()


async def _expired(run: Run) -> None:
    await run.ask("book LX14 2400")
    await run.env.sleep(2 * REMIND + EXPIRE + timedelta(minutes=1))
    await run.finish_turn()
    assert run.channel.kinds(run.approvals[0])[-1] == "expired"


async def _denied(run: Run) -> None:
    request = await run.ask("book LX14 2400")
    await run.vote(request, "bob", approve=False)
    await run.finish_turn()


async def _stages(run: Run) -> None:
    request = await run.ask("book LX14 3500")
    await run.vote(request, "bob")
    await run.vote(request, "dana")
    await run.finish_turn()


async def _m_of_n(run: Run) -> None:
    request = await run.ask("book LX14 4500")
    await run.vote(request, "erin")
    await run.vote(request, "frank")
    await run.finish_turn()


async def _delegated(run: Run) -> None:
    request = await run.ask("book LX14 2400")
    # The leave is dated on the server's clock: earlier phases on the time-skipping server move
    # it days past the wall clock, and a leave dated from the wall clock would then be over.
    delegation = Leaves().delegation("carol", ("bob",), await run.env.get_current_time())
    await run.vote(request, "carol", delegation=delegation)
    await run.finish_turn()


async def _edited(run: Run) -> None:
    request = await run.ask("book LX14 2400")
    await run.vote(request, "bob", edit={"price": 1800.0})
    await run.finish_turn()


async def _parallel(run: Run) -> None:
    first = await run.ask("book LX14 2400 LX16 3500")
    await run.vote(first, "bob")
    # The second approval (stages) stays half done: bob approved, dana not yet.
    second_id = run.approvals[1]
    status = await run.agents.approval_status(second_id)
    await run.vote(status.request, "bob")


async def _continued_as_new(run: Run) -> None:
    options = DurableOptions(continue_as_new_after_messages=4)
    request = await run.ask("book LX14 2400", options=options)
    await run.vote(request, "bob")
    await run.finish_turn()
    reply = await run.agents.send(run.conversation, "book LX16 2600", sender="alice")
    assert reply.status == "awaiting_approval"
    run.approvals.append(approval_workflow_id(run.conversation, reply.approvals[0].tool_call_id))
    handle = run.env.client.get_workflow_handle(run.conversation)
    description = await handle.describe()
    first_run = description.raw_description.workflow_execution_info.first_run_id
    assert description.run_id != first_run, "the conversation did not continue as new"


async def _continued_between_turns(run: Run) -> None:
    # Past the limit between turns: a run continues as new once it has added the limit (the
    # rule before the run-added-messages patch counted the whole transcript, so the run that
    # answered "hello" continued as new too). The second booking waits for bob.
    options = DurableOptions(continue_as_new_after_messages=4)
    request = await run.ask("book LX14 2400", options=options)
    await run.vote(request, "bob")
    await run.finish_turn()
    reply = await run.agents.send(run.conversation, "hello", sender="alice")
    assert reply.output == "You said: hello", reply
    reply = await run.agents.send(run.conversation, "book LX16 2600", sender="alice")
    assert reply.status == "awaiting_approval", reply
    approval_id = approval_workflow_id(run.conversation, reply.approvals[0].tool_call_id)
    run.approvals.append(approval_id)
    await run.asked(approval_id)


async def _local_tools(run: Run) -> None:
    # The search runs as a local activity, the booking as an activity once bob approved it;
    # the second turn searches alone, after the approval's child has ended.
    options = DurableOptions(local_read_only_tools=True)
    request = await run.ask("search ZRH book LX14 2400", options=options)
    await run.vote(request, "bob")
    await run.finish_turn()
    reply = await run.agents.send(run.conversation, "search GVA", sender="alice")
    assert (reply.status, reply.output) == ("completed", "LX14 and LX16 to GVA"), reply


Scenario = Callable[[Run], Awaitable[None]]

PHASES: dict[str, Scenario] = {
    "waiting": _waiting,
    "reminded": _reminded,
    "escalated": _escalated,
    "expired": _expired,
    "denied": _denied,
    "stages": _stages,
    "m-of-n": _m_of_n,
    "delegated": _delegated,
    "edited": _edited,
    "parallel": _parallel,
    "continued-as-new": _continued_as_new,
    "local-tools": _local_tools,
    "continued-between-turns": _continued_between_turns,
}
"""Each phase and how to bring a conversation there."""


async def record(
    env: WorkflowEnvironment, queue: str, phases: Sequence[str] = tuple(PHASES)
) -> dict[str, list[WorkflowHistory]]:
    """Play each scenario of ``phases`` on ``env`` (a time-skipping server); their histories."""
    channel = RecordingChannel()
    recorded: dict[str, list[WorkflowHistory]] = {}
    async with create_worker(
        env.client,
        [AGENT],
        task_queue=queue,
        deps={NAME: lambda: None},
        channel=channel,
        org=Leaves(),
    ):
        agents = AgentClient(env.client, task_queue=queue)
        for phase in phases:
            scenario = PHASES[phase]
            run = Run(env, agents, channel)
            async with asyncio.timeout(60):  # a scenario that cannot reach its phase says so
                await scenario(run)
            recorded[phase] = await run.histories()
            for workflow_id in (run.conversation, *run.approvals):
                handle = env.client.get_workflow_handle(workflow_id)
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("recorded")
    return recorded
