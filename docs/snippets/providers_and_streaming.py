"""One agent, two providers (their local stand-ins here), its answer streamed as it is written."""

import asyncio

from agentflow import Agent, Allow, AnthropicModel, Deny, Model, OpenAIModel, precondition, tool
from agentflow.events import PreconditionChecked, RunFinished, TextDelta
from agentflow.testing.anthropic_server import FakeAnthropicServer, message_response
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response, tool_call_body

booked: list[str] = []


@precondition
def under_the_cap(ctx, args) -> Allow | Deny:
    """Nothing above 2000 EUR is booked."""
    return Deny(f"{args.price} EUR is above the 2000 EUR cap") if args.price > 2000 else Allow()


@tool(requires=under_the_cap, side_effects=True)
def book_flight(flight_id: str, price: float) -> str:
    """Book a flight."""
    booked.append(flight_id)
    return f"booked {flight_id}"


async def show(model: Model) -> None:
    agent = Agent(model, tools=[book_flight], system="You book flights.")
    async for event in agent.run_stream("Book LX318, 9400 EUR"):
        if isinstance(event, TextDelta):
            print(event.text, end="|")
        elif isinstance(event, PreconditionChecked):
            print(f"\n[refused: {event.evaluation.decision.reasons[0]}]")
        elif isinstance(event, RunFinished):
            print(f"\n[{model.name}: {event.result.status}]")


async def main() -> None:
    with FakeAnthropicServer() as claude, FakeOpenAIServer() as gpt:
        call = {"flight_id": "LX318", "price": 9400}
        claude.enqueue(
            message_response(
                [
                    {"type": "text", "text": "Booking LX318."},
                    {"type": "tool_use", "id": "toolu_1", "name": "book_flight", "input": call},
                ],
                stop_reason="tool_use",
            ),
            message_response([{"type": "text", "text": "That fare is over the cap."}]),
        )
        gpt.enqueue(
            completion_response(
                content="Booking LX318.", tool_calls=[tool_call_body("book_flight", call)]
            ),
            completion_response(content="That fare is over the cap."),
        )
        await show(AnthropicModel("claude-sonnet-5", api_key="test", base_url=claude.base_url))
        await show(OpenAIModel("gpt-5", api_key="test", base_url=gpt.base_url))
    assert booked == []


asyncio.run(main())
