"""The in-process driver and the loop it drives, attacked with hostile and broken models."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from typing import Any, Literal

import pytest

from agentflow import (
    Agent,
    Allow,
    ApprovalDecision,
    ApprovalError,
    ApprovalRequest,
    Deny,
    InvalidInput,
    Limits,
    ModelRetry,
    ModelUnavailable,
    NeedsApproval,
    RunContext,
    RunResult,
    Usage,
    precondition,
    tool,
)
from agentflow.events import (
    ApprovalDecided,
    ApprovalRequested,
    ModelCalled,
    PreconditionChecked,
    RunFinished,
    ToolExecuted,
)
from agentflow.messages import Message, ModelResponse, TextBlock, ToolResultBlock, ToolUseBlock
from agentflow.preconditions import Decision
from agentflow.testing import FunctionModel, ScriptedModel, text_response, tool_call, tool_calls

HARD_CAP = 5_000.0
APPROVAL_ABOVE = 1_000.0


class Ledger:
    """Records every booking the tool body makes: the end state tests assert on."""

    def __init__(self) -> None:
        self.bookings: list[tuple[str, float, str]] = []


@precondition
def within_budget(ctx: RunContext[Ledger], args: Any) -> Decision:
    """Prices above 1000 need the manager's approval; above 5000 are never booked."""
    if args.price > HARD_CAP:
        return Deny(f"price {args.price} is above the hard cap of {HARD_CAP}")
    if args.price > APPROVAL_ABOVE:
        return NeedsApproval(f"price {args.price} is above {APPROVAL_ABOVE}", approvers=["bob"])
    return Allow()


@tool(requires=within_budget, side_effects=True)
def book_flight(ctx: RunContext[Ledger], flight_id: str, price: float) -> dict[str, str]:
    """Book a flight."""
    ctx.deps.bookings.append((flight_id, price, ctx.idempotency_key))
    return {"booking": f"B-{flight_id}"}


def results(result: RunResult) -> list[ToolResultBlock]:
    return [b for m in result.messages for b in m.content if isinstance(b, ToolResultBlock)]


def assert_transcript_valid(messages: list[Message]) -> None:
    """Roles alternate and every tool_use is answered by exactly one tool_result next turn."""
    for before, after in itertools.pairwise(messages):
        assert before.role != after.role
        uses = {b.id for b in before.content if isinstance(b, ToolUseBlock)}
        if uses:
            answered = [b.tool_use_id for b in after.content if isinstance(b, ToolResultBlock)]
            assert sorted(answered) == sorted(uses)


async def test_hostile_model_never_gets_past_a_precondition() -> None:
    ledger = Ledger()
    attack = tool_call("book_flight", flight_id="LX14", price=99_999)
    model = ScriptedModel([attack] * 50)
    agent = Agent(model, tools=[book_flight], limits=Limits(max_steps=10))

    result = await agent.run("book it", deps=ledger, user="alice")

    assert ledger.bookings == []
    # The same refused call, asked for again, ends the run: no spinning until max_steps.
    assert result.status == "repeated_denial"
    assert "above the hard cap" in result.output
    assert len(model.requests) == 2
    errors = results(result)
    assert len(errors) == 2
    assert all(r.is_error and "above the hard cap of 5000.0" in r.content for r in errors)
    assert_transcript_valid(result.messages)


@pytest.mark.parametrize(
    "bad_arguments",
    [
        {"flight_id": 14, "price": "cheap"},
        {"price": 100},
        {"flight_id": "LX14", "price": 100, "approved": True},
        {"flight_id": "X" * 100_000, "price": 100},
        "{'flight_id': LX14",
        ["LX14", 100],
        None,
    ],
)
async def test_malformed_arguments_become_error_results(bad_arguments: Any) -> None:
    ledger = Ledger()
    model = ScriptedModel(
        [
            tool_call("book_flight", bad_arguments),
            tool_call("book_flight", flight_id="LX14", price=100),
            "Booked.",
        ]
    )
    result = await Agent(model, tools=[book_flight]).run("go", deps=ledger, user="alice")

    assert result.status == "completed"
    first, second = results(result)
    assert first.is_error and "Invalid arguments for book_flight" in first.content
    assert not second.is_error
    assert [(f, p) for f, p, _ in ledger.bookings] == [("LX14", 100.0)]
    assert_transcript_valid(result.messages)


async def test_invalid_calls_are_bounded_per_tool() -> None:
    ledger = Ledger()
    model = ScriptedModel([tool_call("book_flight", price="?")] * 20)
    agent = Agent(model, tools=[book_flight], limits=Limits(max_retries=2))

    result = await agent.run("go", deps=ledger, user="alice")

    assert result.status == "tool_retries"
    assert len(model.requests) == 3
    assert ledger.bookings == []
    assert_transcript_valid(result.messages)


async def test_unknown_tool_is_named_with_the_alternatives() -> None:
    model = ScriptedModel([tool_call("transfer_money", amount=10), "ok"])
    result = await Agent(model, tools=[book_flight]).run("go", deps=Ledger())
    (only,) = results(result)
    assert only.is_error
    assert only.content == "Unknown tool 'transfer_money'. Available: book_flight."


async def test_parallel_calls_run_together_and_answer_in_order() -> None:
    both_started = asyncio.Event()
    started: list[str] = []

    @tool
    async def lookup(code: str) -> str:
        started.append(code)
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), timeout=5)  # deadlocks if run one by one
        return code.lower()

    turn = tool_calls(("lookup", {"code": "ZRH"}, "a"), ("lookup", {"code": "JFK"}, "b"))
    model = ScriptedModel([turn, "done"])
    result = await Agent(model, tools=[lookup]).run("go")

    user_turn = result.messages[2]
    assert [
        (b.tool_use_id, b.content) for b in user_turn.content if isinstance(b, ToolResultBlock)
    ] == [
        ("a_1", "zrh"),
        ("b_1", "jfk"),
    ]


async def test_a_response_cut_by_max_tokens_executes_nothing() -> None:
    ledger = Ledger()
    cut = replace(tool_call("book_flight", flight_id="LX14", price=100), stop_reason="max_tokens")
    result = await Agent(ScriptedModel([cut]), tools=[book_flight]).run("go", deps=ledger)
    assert result.status == "max_tokens"
    assert ledger.bookings == []
    assert all(m.role != "assistant" or not m.tool_calls for m in result.messages)


async def test_token_budget_stops_before_the_next_model_call() -> None:
    spend = Usage(input_tokens=500, output_tokens=100)
    turn = replace(tool_call("book_flight", flight_id="LX14", price=100), usage=spend)
    model = ScriptedModel([turn] * 5)
    agent = Agent(model, tools=[book_flight], limits=Limits(max_total_tokens=1_000))
    result = await agent.run("go", deps=Ledger())
    assert result.status == "token_budget"
    assert len(model.requests) == 2
    assert result.usage.total_tokens == 1_200


async def test_model_outage_gives_a_clear_message_and_keeps_the_transcript() -> None:
    model = ScriptedModel([ModelUnavailable("connection refused")])
    result = await Agent(model).run("hello")
    assert result.status == "model_error"
    assert "model is unavailable" in result.output
    assert result.messages[0].content == (TextBlock(text="hello"),)


async def test_tool_can_ask_the_model_to_retry() -> None:
    @tool
    def pick(seat: str) -> str:
        if not seat[:-1].isdigit():
            raise ModelRetry("seat must look like 12A")
        return f"seat {seat}"

    model = ScriptedModel([tool_call("pick", seat="window"), tool_call("pick", seat="12A"), "ok"])
    result = await Agent(model, tools=[pick]).run("go")
    first, second = results(result)
    assert (first.is_error, first.content) == (True, "seat must look like 12A")
    assert (second.is_error, second.content) == (False, "seat 12A")


@pytest.mark.parametrize("text", ["", "   \n", "x" * 40_000])
async def test_unusable_user_messages_are_refused_and_change_nothing(text: str) -> None:
    model = ScriptedModel([])
    agent = Agent(model)
    earlier = await Agent(ScriptedModel(["hi"])).run("hello")
    before = earlier.state.model_dump()
    with pytest.raises(InvalidInput):
        await agent.run(text, state=earlier.state)
    assert earlier.state.model_dump() == before
    assert model.requests == []


async def test_conversation_continues_with_state_and_stream_reports_each_step() -> None:
    seen: list[list[Message]] = []

    def answer(request: Any) -> ModelResponse | str:
        seen.append(list(request.messages))
        if request.messages[-1].content[0].type == "text":
            return tool_call("book_flight", flight_id="LX14", price=100, id="c1")
        return "Booked LX14."

    agent = Agent(FunctionModel(answer), tools=[book_flight], system="You book trips.")
    first = await agent.run("hi", deps=Ledger())
    events = [e async for e in agent.run_stream("again", deps=Ledger(), state=first.state)]

    assert [type(e) for e in events] == [
        ModelCalled,
        PreconditionChecked,
        ToolExecuted,
        ModelCalled,
        RunFinished,
    ]
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.result.output == "Booked LX14."
    assert len(final.result.messages) == 8  # 2 runs x (user, tool_use, tool_result, answer)
    assert seen[-1][0].content == (TextBlock(text="hi"),)


def test_run_sync() -> None:
    assert Agent(ScriptedModel(["hello"])).run_sync("hi").output == "hello"


# -- approvals ---------------------------------------------------------------------------------


def decide(
    outcome: Literal["approved", "denied", "expired"],
    approver: str | None = "bob",
    reason: str = "",
) -> Any:
    async def handler(request: ApprovalRequest) -> ApprovalDecision:
        return request.decide(outcome, approver=approver, reason=reason)

    return handler


def expensive_then(answer: str) -> ScriptedModel:
    return ScriptedModel([tool_call("book_flight", flight_id="LX14", price=2_000), answer])


async def test_approved_call_runs_exactly_once_with_an_idempotency_key() -> None:
    ledger = Ledger()
    agent = Agent(expensive_then("Booked."), tools=[book_flight])
    events = [
        e
        async for e in agent.run_stream(
            "go", deps=ledger, user="alice", conversation_id="conv-1", approvals=decide("approved")
        )
    ]
    assert [(f, p) for f, p, _ in ledger.bookings] == [("LX14", 2000.0)]
    assert ledger.bookings[0][2] == "conv-1:toolu_book_flight_0_1"
    checks = [e for e in events if isinstance(e, PreconditionChecked)]
    assert [c.approved_by for c in checks] == [None, "bob"]
    assert any(isinstance(e, ApprovalRequested) for e in events)
    assert any(isinstance(e, ApprovalDecided) for e in events)


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (decide("denied", reason="too pricey"), "Approval denied by bob: too pricey"),
        (decide("expired", approver=None), "Approval expired"),
        (decide("approved", approver="alice"), "cannot be approved by its requester"),
        (decide("approved", approver="mallory"), "mallory is not an authorised approver"),
    ],
)
async def test_calls_not_properly_approved_never_run(handler: Any, message: str) -> None:
    ledger = Ledger()
    agent = Agent(expensive_then("Not booked."), tools=[book_flight])
    result = await agent.run("go", deps=ledger, user="alice", approvals=handler)
    assert ledger.bookings == []
    (only,) = results(result)
    assert only.is_error and message in only.content
    assert result.status == "completed"


async def test_paused_run_resumes_only_with_a_decision_for_its_digest() -> None:
    ledger = Ledger()
    agent = Agent(expensive_then("Booked."), tools=[book_flight])
    paused = await agent.run("go", deps=ledger, user="alice")
    assert paused.status == "awaiting_approval"
    (request,) = paused.pending_approvals
    assert request.arguments == {"flight_id": "LX14", "price": 2000.0}
    assert request.requester == "alice" and request.approvers == ("bob",)

    snapshot = paused.state.model_dump()
    other = ApprovalDecision(digest="0" * 64, outcome="approved", approver="bob")
    with pytest.raises(ApprovalError):
        await agent.resume(paused, [other], deps=ledger, user="alice")
    assert paused.state.model_dump() == snapshot and ledger.bookings == []

    ok = request.decide("approved", approver="bob")
    done = await agent.resume(paused, [ok], deps=ledger, user="alice")
    assert done.status == "completed" and len(ledger.bookings) == 1


async def test_an_approval_for_other_arguments_authorises_nothing() -> None:
    """Approval of a 2000 booking replayed onto a 4000 booking: the digest differs."""
    from agentflow.execution import invoke_tool
    from agentflow.loop import ToolCall
    from agentflow.outcomes import ToolDenied

    ledger = Ledger()
    cheap = {"flight_id": "LX14", "price": 2000.0}
    pricey = {"flight_id": "LX14", "price": 4000.0}
    from agentflow import call_digest

    grant = ApprovalDecision(
        digest=call_digest("book_flight", cheap), outcome="approved", approver="bob"
    )
    forged = ToolCall(
        id="c", name="book_flight", arguments=pricey, digest=grant.digest, approval=grant
    )
    ctx = RunContext(deps=ledger, user="alice", approval=grant)
    outcome = await invoke_tool(book_flight, ctx, forged)
    assert isinstance(outcome, ToolDenied)
    assert "different arguments" in outcome.reasons[0]
    assert ledger.bookings == []


async def test_approval_never_overrides_a_denial() -> None:
    from agentflow import call_digest
    from agentflow.execution import invoke_tool
    from agentflow.loop import ToolCall
    from agentflow.outcomes import ToolDenied

    ledger = Ledger()
    args = {"flight_id": "LX14", "price": 9000.0}
    digest = call_digest("book_flight", args)
    grant = ApprovalDecision(digest=digest, outcome="approved", approver="bob")
    call = ToolCall(id="c", name="book_flight", arguments=args, digest=digest, approval=grant)
    outcome = await invoke_tool(
        book_flight, RunContext(deps=ledger, user="alice", approval=grant), call
    )
    assert isinstance(outcome, ToolDenied) and "hard cap" in outcome.reasons[0]
    assert ledger.bookings == []


async def test_function_model_sees_tools_and_system_prompt() -> None:
    model = FunctionModel(lambda request: text_response(f"{len(request.tools)} {request.system}"))
    result = await Agent(model, tools=[book_flight], system="sys").run("hi")
    assert result.output == "1 sys"
    assert model.requests[0].tools[0].name == "book_flight"


async def test_a_reused_tool_call_id_cannot_reuse_an_idempotency_key() -> None:
    """A model that sends the same id twice still gets two distinct calls, each keyed apart."""
    ledger = Ledger()
    same_id = tool_calls(
        ("book_flight", {"flight_id": "LX14", "price": 100}, "dup"),
        ("book_flight", {"flight_id": "LX15", "price": 100}, "dup"),
    )
    model = FunctionModel(
        lambda request: same_id if request.messages[-1].content[0].type == "text" else "ok"
    )
    agent = Agent(model, tools=[book_flight])
    first = await agent.run("book both", deps=ledger, user="alice", conversation_id="c")
    await agent.run("and again", deps=ledger, user="alice", conversation_id="c", state=first.state)

    keys = sorted(key for _, _, key in ledger.bookings)
    assert keys == ["c:dup", "c:dup_2", "c:dup_3", "c:dup_4"]
    assert_transcript_valid(first.state.messages)


async def test_a_rule_that_names_no_approver_lets_nobody_approve() -> None:
    @precondition
    def ask_someone(ctx: RunContext[Ledger], args: Any) -> Decision:
        """Every booking needs approval."""
        return NeedsApproval("approval required")

    @tool(requires=ask_someone, side_effects=True)
    def book(ctx: RunContext[Ledger], flight_id: str) -> str:
        ctx.deps.bookings.append((flight_id, 0.0, ctx.idempotency_key))
        return "booked"

    ledger = Ledger()
    model = ScriptedModel([tool_call("book", flight_id="LX14"), "done"])
    result = await Agent(model, tools=[book]).run(
        "go", deps=ledger, user="alice", approvals=decide("approved", approver="bob")
    )
    assert ledger.bookings == []
    assert "bob is not an authorised approver" in results(result)[0].content
