"""Agent.run_stream: text as it is written, on every provider, and its edges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agentflow import Agent, Allow, Deny, RunContext, precondition, tool
from agentflow.events import (
    Event,
    ModelCalled,
    ModelRetrying,
    PreconditionChecked,
    RunFinished,
    TextDelta,
    ToolExecuted,
)
from agentflow.messages import ModelRequest, ModelResponse
from agentflow.models.anthropic import AnthropicModel
from agentflow.models.base import Model
from agentflow.models.deltas import report_delta
from agentflow.models.openai import OpenAIModel
from agentflow.models.openai_responses import OpenAIResponsesModel
from agentflow.models.retries import RetryPolicy
from agentflow.testing import FunctionModel, text_response, tool_call
from agentflow.testing.anthropic_server import FakeAnthropicServer, error_response, message_response
from agentflow.testing.openai_server import (
    FakeOpenAIServer,
    FakeResponsesServer,
    completion_response,
    function_call_item,
    responses_response,
    tool_call_body,
)

CAP = 2_000.0
QUICK = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01)


class Trips:
    def __init__(self) -> None:
        self.booked: list[tuple[str, float]] = []


@precondition
def under_the_cap(ctx: RunContext[Trips], args: Any) -> Allow | Deny:
    """Nothing above the hard cap is ever booked."""
    return Deny(f"{args.price} is above the cap of {CAP}") if args.price > CAP else Allow()


@tool(requires=under_the_cap, side_effects=True)
def book_flight(ctx: RunContext[Trips], flight_id: str, price: float) -> str:
    """Book a flight."""
    ctx.deps.booked.append((flight_id, price))
    return f"booked {flight_id}"


def travel_agent(model: Model) -> Agent[Trips]:
    return Agent(model, tools=[book_flight], system="You book flights.")


async def collect(stream: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in stream]


def anthropic_script(server: FakeAnthropicServer) -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": "book_flight"}
    server.enqueue(
        message_response(
            [
                {"type": "text", "text": "Booking LX318 for you."},
                {**call, "input": {"flight_id": "LX318", "price": 9400}},
            ],
            stop_reason="tool_use",
        ),
        message_response([{"type": "text", "text": "That fare is above the cap."}]),
    )


def openai_script(server: FakeOpenAIServer) -> None:
    server.enqueue(
        completion_response(
            content="Booking LX318 for you.",
            tool_calls=[
                tool_call_body("book_flight", {"flight_id": "LX318", "price": 9400}, id="c1")
            ],
        ),
        completion_response(content="That fare is above the cap."),
    )


def responses_script(server: FakeResponsesServer) -> None:
    call = function_call_item("book_flight", {"flight_id": "LX318", "price": 9400}, call_id="c1")
    server.enqueue(
        responses_response(text="Booking LX318 for you.", calls=[call]),
        responses_response(text="That fare is above the cap."),
    )


@pytest.fixture(params=["anthropic", "openai", "openai-responses"])
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, Model]]:
    if request.param == "anthropic":
        with FakeAnthropicServer() as server:
            anthropic_script(server)
            yield (
                "anthropic",
                AnthropicModel("claude-sonnet-5", api_key="k", base_url=server.base_url),
            )
    elif request.param == "openai":
        with FakeOpenAIServer() as server:
            openai_script(server)
            yield "openai", OpenAIModel("gpt-test", api_key="k", base_url=server.base_url)
    else:
        with FakeResponsesServer() as server:
            responses_script(server)
            model = OpenAIResponsesModel("gpt-test", api_key="k", base_url=server.base_url)
            yield "openai-responses", model


async def test_the_travel_scenario_streams_the_same_on_every_provider(
    provider: tuple[str, Model],
) -> None:
    _, model = provider
    trips = Trips()
    events = await collect(travel_agent(model).run_stream("Book LX318", deps=trips, user="ann"))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(deltas) == "Booking LX318 for you.That fare is above the cap."
    assert len(deltas) == 4  # each answer came in two pieces
    # Pieces of a call come before that call's step.
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("TextDelta") < kinds.index("ModelCalled")
    (checked,) = [e for e in events if isinstance(e, PreconditionChecked)]
    assert isinstance(checked.evaluation.decision, Deny)
    assert trips.booked == []
    assert isinstance(events[-1], RunFinished)
    assert events[-1].result.output == "That fare is above the cap."


def streaming_model(pieces_per_call: list[list[str]], delay: float = 0.0) -> FunctionModel:
    """A double that reports its answer piece by piece, as a streaming adapter does."""

    async def answer(request: ModelRequest) -> ModelResponse:
        pieces = pieces_per_call[min(len(request.messages) // 2, len(pieces_per_call) - 1)]
        for piece in pieces:
            await asyncio.sleep(delay)
            report_delta(piece)
        if len(request.messages) == 1:
            return tool_call(
                "book_flight", flight_id="LX1", price=100, id="b1", text="".join(pieces)
            )
        return text_response("".join(pieces))

    return FunctionModel(answer)


async def test_deltas_arrive_before_the_model_call_ends() -> None:
    model = streaming_model([["Booking", " now."], ["Done."]], delay=0.01)
    agent = travel_agent(model)
    stream = agent.run_stream("book", deps=Trips())
    first = await anext(stream)
    assert first == TextDelta(text="Booking")
    assert model.requests and len(model.requests) == 1  # the call is still under way
    rest = [e async for e in stream]
    assert isinstance(rest[-1], RunFinished)


async def test_leaving_a_stream_early_stops_after_the_step_under_way() -> None:
    model = streaming_model([["Booking", " now."], ["Done."]], delay=0.01)
    trips = Trips()
    stream = travel_agent(model).run_stream("book", deps=trips)
    async for event in stream:
        assert isinstance(event, TextDelta)
        break
    await stream.aclose()
    # The model call finished; no tool started after the consumer left.
    assert len(model.requests) == 1
    assert trips.booked == []


async def test_two_streams_at_once_keep_their_text_apart() -> None:
    async def answer(request: ModelRequest) -> ModelResponse:
        word = request.messages[0].text
        for letter in word:
            await asyncio.sleep(0.001)
            report_delta(letter)
        return text_response(word)

    agent = Agent(FunctionModel(answer))
    a, b = await asyncio.gather(
        collect(agent.run_stream("alpha")), collect(agent.run_stream("bravo"))
    )
    assert "".join(e.text for e in a if isinstance(e, TextDelta)) == "alpha"
    assert "".join(e.text for e in b if isinstance(e, TextDelta)) == "bravo"


async def test_a_retried_stream_is_announced_before_its_text_starts_again() -> None:
    with FakeAnthropicServer(
        error_response(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "1"}),
        message_response([{"type": "text", "text": "Hello there"}]),
    ) as server:
        model = AnthropicModel(
            "claude-sonnet-5", api_key="k", base_url=server.base_url, retry=QUICK
        )
        events = await collect(Agent(model).run_stream("hi"))
    kinds = [type(e) for e in events]
    assert kinds[:3] == [ModelRetrying, TextDelta, TextDelta]
    assert isinstance(events[3], ModelCalled)


async def test_an_error_raised_in_a_streamed_run_reaches_the_consumer() -> None:
    @tool
    def broken() -> str:
        """Fails."""
        raise RuntimeError("the tool broke")

    model = FunctionModel(lambda r: tool_call("broken") if len(r.messages) == 1 else "ok")
    agent = Agent(model, tools=[broken], raise_tool_errors=True)
    with pytest.raises(RuntimeError, match="the tool broke"):
        await collect(agent.run_stream("go"))


async def test_a_streamed_run_records_the_same_steps_as_a_plain_one() -> None:
    seen: list[Event] = []
    model = streaming_model([["Booking", " now."], ["Done."]])
    agent = Agent(model, tools=[book_flight], event_handlers=[seen.append])
    events = await collect(agent.run_stream("book", deps=Trips()))
    steps = [e for e in events if not isinstance(e, TextDelta)]
    assert [type(e) for e in seen] == [type(e) for e in steps]
    assert any(isinstance(e, ToolExecuted) for e in seen)
    assert not any(isinstance(e, TextDelta) for e in seen)
