"""The promise at its seams, in-process: two calls in one turn, a failed turn and the next
message, an approval and another conversation, a tool that throws, a model that misbehaves."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import pytest

from agentflow import (
    Agent,
    Allow,
    ApprovalError,
    Deny,
    Limits,
    ModelRetry,
    ModelUnavailable,
    NeedsApproval,
    RunContext,
    precondition,
    tool,
)
from agentflow.events import Event, ToolExecuted
from agentflow.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from agentflow.outcomes import ToolFailed
from agentflow.preconditions import Decision
from agentflow.testing import FunctionModel, ScriptedModel, text_response, tool_call, tool_calls

PROVIDER_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def assert_provider_accepts(messages: list[Message]) -> None:
    """What the Messages API checks: alternating roles from a user turn, no empty text, every
    tool_use answered in the next turn, ids in its pattern, object inputs."""
    assert messages and messages[0].role == "user"
    for before, after in itertools.pairwise(messages):
        assert before.role != after.role, [m.role for m in messages]
    for index, message in enumerate(messages):
        assert message.content
        for block in message.content:
            if isinstance(block, TextBlock):
                assert block.text.strip()
            if isinstance(block, ToolUseBlock):
                assert PROVIDER_ID.match(block.id) and isinstance(block.input, dict)
        uses = {b.id for b in message.content if isinstance(b, ToolUseBlock)}
        if uses:
            answered = {
                b.tool_use_id for b in messages[index + 1].content if isinstance(b, ToolResultBlock)
            }
            assert uses == answered


def user_texts(messages: list[Message]) -> list[str]:
    return [m.text for m in messages if m.role == "user" and m.text]


# -- 1. one side effect at a time --------------------------------------------------------------


class Wallet:
    def __init__(self, balance: int) -> None:
        self.balance = balance
        self.charges: list[int] = []


@precondition
def enough_money(ctx: RunContext[Wallet], args: Any) -> Decision:
    """The balance must cover the charge."""
    if ctx.deps.balance >= args.amount:
        return Allow()
    return Deny(f"the balance is {ctx.deps.balance}, not enough for {args.amount}")


@tool(requires=enough_money, side_effects=True)
async def charge(ctx: RunContext[Wallet], amount: int) -> str:
    """Charge the wallet."""
    await asyncio.sleep(0.01)  # a payment API: the window where a second call could slip in
    ctx.deps.balance -= amount
    ctx.deps.charges.append(amount)
    return f"charged {amount}"


@tool(requires=enough_money)
def charge_sync(ctx: RunContext[Wallet], amount: int) -> str:
    """Charge the wallet from a blocking client (runs on a thread)."""
    import time

    time.sleep(0.01)
    ctx.deps.balance -= amount
    ctx.deps.charges.append(amount)
    return f"charged {amount}"


@pytest.mark.parametrize("name", ["charge", "charge_sync"])
async def test_two_charges_in_one_turn_cannot_both_pass_the_balance_check(name: str) -> None:
    wallet = Wallet(100)
    turn = tool_calls((name, {"amount": 80}, "a"), (name, {"amount": 80}, "b"))
    agent = Agent(ScriptedModel([turn, "done"]), tools=[charge, charge_sync])

    result = await agent.run("pay twice", deps=wallet)

    assert wallet.charges == [80] and wallet.balance == 20
    first, second = (b for b in result.messages[2].content if isinstance(b, ToolResultBlock))
    assert not first.is_error and second.is_error and "not enough" in second.content
    assert_provider_accepts(result.messages)


async def test_calls_run_in_the_models_order_and_concurrent_tools_still_overlap() -> None:
    running = 0
    overlap = 0
    order: list[str] = []

    @tool
    async def lookup(code: str) -> str:
        nonlocal running, overlap
        running += 1
        overlap = max(overlap, running)
        await asyncio.sleep(0.01)
        running -= 1
        order.append(code)
        return code

    @tool(side_effects=True, concurrent=True)
    async def notify(code: str) -> str:
        return await lookup.function(code)

    @tool(side_effects=True)
    async def pay(code: str) -> str:
        nonlocal running, overlap
        running += 1
        overlap = max(overlap, running)
        running -= 1
        order.append(code)
        return code

    turn = tool_calls(
        ("lookup", {"code": "l1"}, "a"),
        ("notify", {"code": "n1"}, "b"),
        ("pay", {"code": "p1"}, "c"),
        ("lookup", {"code": "l2"}, "d"),
    )
    agent = Agent(ScriptedModel([turn, "done"]), tools=[lookup, notify, pay])
    await agent.run("go")

    assert overlap == 2  # the read-only call and the declared-concurrent one ran together
    assert order.index("p1") == 2 and order[3] == "l2"  # pay after both, before the next
    assert (lookup.concurrent, notify.concurrent, pay.concurrent) == (True, True, False)
    assert charge.concurrent is False and charge_sync.concurrent is False


# -- 2. turn integrity ---------------------------------------------------------------------------


def confirmed(ctx: RunContext[Wallet], args: Any) -> Decision:
    """The user's latest message must say "book"."""
    said = ctx.latest_user_message.lower()
    if "book" in said and "not" not in said:
        return Allow()
    return Deny(f"the user has not asked to book (they said {ctx.latest_user_message!r})")


@tool(requires=precondition(confirmed), side_effects=True)
def book(ctx: RunContext[Wallet], option: int) -> str:
    """Book an option."""
    ctx.deps.charges.append(option)
    return "booked"


class Outage:
    """A model that is down for its first ``down`` calls, then books on every request."""

    def __init__(self, down: int, then: ModelResponse | str) -> None:
        self.down = down
        self.then = then
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return "outage"

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if len(self.requests) <= self.down:
            raise ModelUnavailable("connection refused")
        if isinstance(self.then, str):
            return text_response(self.then)
        return self.then


async def test_a_failed_turn_never_merges_into_the_next_message() -> None:
    wallet = Wallet(0)
    model = Outage(1, tool_call("book", option=1))
    agent = Agent(model, tools=[book], limits=Limits(max_steps=2))

    failed = await agent.run("book option 1", deps=wallet)
    assert failed.status == "model_error"
    stop = "Stop - do NOT book anything. Just list my trips."
    after = await agent.run(stop, deps=wallet, state=failed.state)

    assert wallet.charges == []  # the stale "book option 1" confirms nothing
    assert user_texts(after.messages) == ["book option 1", stop]
    assert user_texts(list(model.requests[1].messages)) == ["book option 1", stop]
    assert_provider_accepts(list(model.requests[1].messages))
    assert_provider_accepts(after.messages)


@pytest.mark.parametrize(
    "answer",
    [
        ModelResponse(content=(), stop_reason="end_turn"),
        ModelResponse(content=(TextBlock(text=""),), stop_reason="end_turn"),
        ModelResponse(content=(TextBlock(text="  \n"),), stop_reason="end_turn"),
    ],
    ids=["no-content", "empty-text", "blank-text"],
)
async def test_an_empty_answer_is_not_stored_and_does_not_merge(answer: ModelResponse) -> None:
    model = ScriptedModel([answer, "fine"])
    agent = Agent(model, tools=[book])
    first = await agent.run("hello", deps=Wallet(0))
    assert first.status == "model_error" and "empty" in first.output
    second = await agent.run("hello again", deps=Wallet(0), state=first.state)
    assert second.output == "fine"
    assert user_texts(second.messages) == ["hello", "hello again"]
    assert_provider_accepts(list(model.requests[1].messages))


async def test_a_run_stopped_by_a_limit_leaves_the_next_message_its_own() -> None:
    model = ScriptedModel([tool_call("book", option=1), "unused", "ok"])
    agent = Agent(model, tools=[book], limits=Limits(max_steps=1))
    stopped = await agent.run("book option 1", deps=Wallet(0))
    assert stopped.status == "max_steps"
    after = await agent.run("never mind", deps=Wallet(0), state=stopped.state)
    assert user_texts(after.messages) == ["book option 1", "never mind"]
    assert_provider_accepts(after.messages)


async def test_preconditions_read_the_latest_user_message_from_the_context() -> None:
    seen: list[str] = []

    @precondition
    def look(ctx: RunContext[Any], args: Any) -> Decision:
        """Records what the user said."""
        seen.append(ctx.latest_user_message)
        return Allow()

    @tool(requires=look)
    def act() -> str:
        return "ok"

    agent = Agent(ScriptedModel([tool_call("act"), "done"] * 2), tools=[act])
    first = await agent.run("first")
    await agent.run("second", state=first.state)
    assert seen == ["first", "second"]


# -- 3. approvals bound to where they were asked ------------------------------------------


@precondition
def manager_for_big(ctx: RunContext[Wallet], args: Any) -> Decision:
    """Charges above 50 need bob's approval."""
    return NeedsApproval("above 50", approvers=["bob"]) if args.amount > 50 else Allow()


@tool(requires=manager_for_big, side_effects=True)
def pay(ctx: RunContext[Wallet], amount: int) -> str:
    """Pay an amount."""
    ctx.deps.charges.append(amount)
    return "paid"


def pay_agent() -> Agent[Wallet]:
    turn = tool_call("pay", amount=80, id="call-1")
    return Agent(FunctionModel(lambda r: turn if r.messages[-1].text else "done"), tools=[pay])


async def test_a_decision_is_refused_by_another_conversation_with_the_same_arguments() -> None:
    agent, wallet = pay_agent(), Wallet(0)
    first = await agent.run("pay", deps=wallet, user="alice", conversation_id="conv-a")
    second = await agent.run("pay", deps=wallet, user="alice", conversation_id="conv-b")
    (request,) = first.pending_approvals
    assert second.pending_approvals[0].digest == request.digest  # same call, same digest
    decision = request.approve("bob")

    with pytest.raises(ApprovalError, match="another conversation"):
        await agent.resume(second, [decision], deps=wallet, user="alice")
    assert wallet.charges == [] and second.pending_approvals  # nothing changed

    done = await agent.resume(first, [decision], deps=wallet, user="alice")
    assert done.status == "completed" and wallet.charges == [80]


async def test_a_decision_is_used_once_even_on_a_saved_copy_of_the_run() -> None:
    agent, wallet = pay_agent(), Wallet(0)
    paused = await agent.run("pay", deps=wallet, user="alice", conversation_id="conv-a")
    copy = type(paused)(
        text=paused.text,
        status=paused.status,
        conversation_id=paused.conversation_id,
        state=paused.state.model_copy(deep=True),
        pending_approvals=paused.pending_approvals,
    )
    decision = paused.pending_approvals[0].approve("bob")
    await agent.resume(paused, [decision], deps=wallet, user="alice")

    with pytest.raises(ApprovalError, match="already been used"):
        await agent.resume(copy, [decision], deps=wallet, user="alice")
    assert wallet.charges == [80]


async def test_a_decision_without_its_call_or_for_another_call_is_refused() -> None:
    agent, wallet = pay_agent(), Wallet(0)
    paused = await agent.run("pay", deps=wallet, user="alice", conversation_id="conv-a")
    (request,) = paused.pending_approvals
    elsewhere = request.approve("bob").model_copy(update={"tool_call_id": "call-9"})
    unnamed = request.approve("bob").model_copy(update={"tool_call_id": ""})
    for decision in (elsewhere, unnamed):
        with pytest.raises(ApprovalError, match="no pending approval"):
            await agent.resume(paused, [decision], deps=wallet, user="alice")
    assert wallet.charges == []


async def test_the_executor_refuses_an_approval_carried_into_another_call() -> None:
    from agentflow.execution import invoke_tool
    from agentflow.loop import ToolCall
    from agentflow.outcomes import ToolDenied

    wallet = Wallet(0)
    paused = await pay_agent().run("pay", deps=wallet, user="alice", conversation_id="conv-a")
    (request,) = paused.pending_approvals
    grant = request.approve("bob")
    call = ToolCall(
        id="call-2", name="pay", arguments=request.arguments, digest=request.digest, approval=grant
    )
    ctx = RunContext(
        deps=wallet, user="alice", conversation_id="conv-a", tool_call_id="call-2", approval=grant
    )
    outcome = await invoke_tool(pay, ctx, call)
    assert isinstance(outcome, ToolDenied) and "another call" in outcome.reasons[0]
    assert wallet.charges == []


# -- 4. tool errors are results ----------------------------------------------------------------


async def test_an_exception_in_a_body_is_an_error_result_and_the_run_goes_on() -> None:
    events: list[Event] = []

    @tool
    def find_reservation(code: str) -> str:
        """Look a reservation up."""
        raise LookupError(f"row {code} missing; dsn=postgres://admin:hunter2@db/prod")

    model = ScriptedModel([tool_call("find_reservation", code="X1"), "Sorry, not found."])
    agent = Agent(model, tools=[find_reservation], event_handlers=[events.append])
    result = await agent.run("where is X1?")

    assert result.status == "completed" and result.output == "Sorry, not found."
    (error,) = (b for b in result.messages[2].content if isinstance(b, ToolResultBlock))
    assert error.is_error and "internal error" in error.content
    assert "hunter2" not in error.content and "Traceback" not in error.content
    (executed,) = (e for e in events if isinstance(e, ToolExecuted))
    assert isinstance(executed.outcome, ToolFailed)
    assert executed.outcome.error_type == "LookupError" and "row X1" in executed.outcome.detail


async def test_a_setting_lets_tool_exceptions_propagate() -> None:
    @tool
    def broken() -> str:
        raise LookupError("boom")

    agent = Agent(ScriptedModel([tool_call("broken")]), tools=[broken], raise_tool_errors=True)
    with pytest.raises(LookupError):
        await agent.run("go")


async def test_a_precondition_that_raises_refuses_the_call() -> None:
    @precondition
    def flaky(ctx: RunContext[Wallet], args: Any) -> Decision:
        """Reads a database that is down."""
        raise ConnectionError("database down")

    @tool(requires=flaky, side_effects=True)
    def spend(ctx: RunContext[Wallet], amount: int) -> str:
        ctx.deps.charges.append(amount)
        return "spent"

    wallet = Wallet(0)
    result = await Agent(ScriptedModel([tool_call("spend", amount=1), "ok"]), tools=[spend]).run(
        "go", deps=wallet
    )
    assert wallet.charges == [] and result.status == "completed"


async def test_ordinary_error_answers_do_not_use_up_the_invalid_call_budget() -> None:
    @tool
    def find(code: str) -> str:
        raise ModelRetry(f"reservation {code} not found")

    turns = [tool_call("find", code=f"R{i}") for i in range(6)] + ["none of them exist"]
    agent = Agent(ScriptedModel(turns), tools=[find], limits=Limits(max_retries=3))
    result = await agent.run("find my reservations")
    assert result.status == "completed" and result.output == "none of them exist"


async def test_the_same_denied_call_repeated_ends_the_run_with_a_clear_status() -> None:
    wallet = Wallet(10)
    model = ScriptedModel([tool_call("charge", amount=80)] * 10)
    result = await Agent(model, tools=[charge]).run("pay", deps=wallet)
    assert result.status == "repeated_denial" and "not enough" in result.output
    assert len(model.requests) == 2 and wallet.charges == []
    assert_provider_accepts(result.messages)


# -- 6. model output that would poison the conversation -------------------------------------


async def test_hostile_ids_empty_blocks_and_non_object_inputs_never_reach_the_transcript() -> None:
    wallet = Wallet(1000)
    hostile = ModelResponse(
        content=(
            TextBlock(text=""),
            ToolUseBlock(id="dup", name="charge", input={"amount": 1}),
            ToolUseBlock(id="dup", name="charge", input={"amount": 2}),
            ToolUseBlock(id="bad id/with spaces", name="charge", input={"amount": 3}),
            ToolUseBlock(id="str", name="charge", input='{"amount": 4}'),
            ToolUseBlock(id="list", name="charge", input=[5]),
        ),
        stop_reason="tool_use",
    )
    model = ScriptedModel([hostile, "done"])
    result = await Agent(model, tools=[charge]).run("go", deps=wallet)

    assert wallet.charges == [1, 2, 3]
    assert_provider_accepts(list(model.requests[1].messages))
    errors = [b for b in result.messages[2].content if isinstance(b, ToolResultBlock)][3:]
    assert all(e.is_error and "JSON object" in e.content for e in errors)


async def test_a_refusal_removes_the_refused_turn_and_says_so() -> None:
    refusal = ModelResponse(content=(TextBlock(text="I"),), stop_reason="refusal")
    model = ScriptedModel(["hi there", refusal, "sure"])
    agent = Agent(model, tools=[book])
    first = await agent.run("hello", deps=Wallet(0))
    refused = await agent.run("something the provider refuses", deps=Wallet(0), state=first.state)
    assert refused.status == "refused" and "declined" in refused.output
    assert user_texts(refused.messages) == ["hello"]
    after = await agent.run("something else", deps=Wallet(0), state=refused.state)
    assert after.output == "sure"
    assert user_texts(list(model.requests[2].messages)) == ["hello", "something else"]
    assert_provider_accepts(after.messages)


async def test_pause_turn_is_continued() -> None:
    paused = ModelResponse(content=(TextBlock(text="Searching…"),), stop_reason="pause_turn")
    model = ScriptedModel([paused, "found it"])
    result = await Agent(model).run("look it up")
    assert result.status == "completed" and result.output == "found it"
    assert len(model.requests) == 2 and model.requests[1].messages[-1].text == "Searching…"


# -- 6. the provider, through the real SDK ----------------------------------------------------


async def test_a_long_retry_after_is_capped_and_the_wait_is_an_event() -> None:
    from agentflow.events import ModelRetrying
    from agentflow.models.anthropic import AnthropicModel
    from agentflow.models.retries import RetryPolicy
    from agentflow.testing.anthropic_server import (
        FakeAnthropicServer,
        error_response,
        message_response,
    )

    events: list[Event] = []
    overloaded = error_response(529, "overloaded_error", "busy", headers={"retry-after": "120"})
    answer = message_response([{"type": "text", "text": "hello"}])
    with FakeAnthropicServer(overloaded, answer) as server:
        model = AnthropicModel(
            "claude-test",
            api_key="test",
            base_url=server.base_url,
            retry=RetryPolicy(max_retries=1, max_retry_after=0.05),
        )
        agent = Agent(model, event_handlers=[events.append])
        result = await agent.run("hi")
        await model.client.close()
    assert result.output == "hello" and len(server.requests) == 2
    (waited,) = [e for e in events if isinstance(e, ModelRetrying)]
    assert waited.attempt == 1 and waited.delay_s == 0.05


async def test_a_malformed_answer_is_a_sentence_for_the_user_and_the_conversation_survives() -> (
    None
):
    from agentflow.models.anthropic import AnthropicModel
    from agentflow.models.retries import RetryPolicy
    from agentflow.testing.anthropic_server import (
        FakeAnthropicServer,
        ScriptedResponse,
        message_response,
    )

    broken = ScriptedResponse(200, b'{"type": "message", "content": [{"type": "text"')
    answer = message_response([{"type": "text", "text": "back"}])
    with FakeAnthropicServer(broken, answer) as server:
        model = AnthropicModel(
            "claude-test",
            api_key="test",
            base_url=server.base_url,
            retry=RetryPolicy(max_retries=0),
        )
        agent = Agent(model)
        failed = await agent.run("hi")
        after = await agent.run("again", state=failed.state)
        await model.client.close()
    assert failed.status == "model_error"
    assert "could not be understood" in failed.output and "JSON" not in failed.output
    assert after.output == "back"
    assert_provider_accepts(list(after.messages))
    assert [m.text for m in after.messages if m.role == "user"] == ["hi", "again"]


async def test_a_call_the_approver_denied_is_not_put_to_them_again_in_the_same_run() -> None:
    asked: list[str] = []

    async def deny(request: Any) -> Any:
        asked.append(request.tool_call_id)
        return request.deny("bob", reason="no")

    wallet = Wallet(0)
    model = ScriptedModel([tool_call("pay", amount=80)] * 5)
    result = await Agent(model, tools=[pay]).run("pay", deps=wallet, user="alice", approvals=deny)
    assert result.status == "repeated_denial" and len(asked) == 1 and wallet.charges == []
