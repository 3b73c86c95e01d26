"""Two turns of a conversation; the second reads the first from the prompt cache."""

import asyncio

from agentflow import Agent, AnthropicModel, tool
from agentflow.models import PromptCache
from agentflow.testing.anthropic_server import FakeAnthropicServer, message_response
from agentflow.testing.prompt_cache import PromptCacheSimulator

FARES = "; ".join(f"LH{n} Paris-Rome {9 + n // 60}:{n % 60:02d} EUR {100 + n}" for n in range(150))


@tool
def search_flights(route: str) -> str:
    """Flights on a route, with their fares."""
    return FARES


async def main() -> None:
    # The stand-in counts cached tokens as the Messages API does (1,024 tokens at least).
    with FakeAnthropicServer(prompt_cache=PromptCacheSimulator()) as claude:
        call = {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "search_flights",
            "input": {"route": "PAR-ROM"},
        }
        claude.enqueue(
            message_response([call], stop_reason="tool_use"),
            message_response([{"type": "text", "text": "LH0 is the cheapest."}]),
            message_response([{"type": "text", "text": "LH0 leaves at 09:00."}]),
        )
        model = AnthropicModel(
            "claude-sonnet-5",
            api_key="test",
            base_url=claude.base_url,
            cache=PromptCache(ttl="1h", messages_ttl="5m"),  # the default is 5 minutes for all
        )
        agent = Agent(model, tools=[search_flights], system="You book business travel.")
        state = None
        for message in ["Flights from Paris to Rome?", "When does it leave?"]:
            result = await agent.run(message, state=state)
            state = result.state
            usage = result.usage
            print(
                f"read {usage.cache_read_input_tokens}, written "
                f"{usage.cache_creation_input_tokens}, uncached {usage.input_tokens}"
            )


asyncio.run(main())
