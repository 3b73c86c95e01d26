"""Prompt caching that pays: breakpoints on the growing history, counted by a simulated cache."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest

from agentflow import Agent, tool
from agentflow.exceptions import ConfigurationError
from agentflow.messages import (
    Message,
    ModelRequest,
    TextBlock,
    ThinkingBlock,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
)
from agentflow.models.anthropic import AnthropicModel
from agentflow.models.caching import PromptCache
from agentflow.models.retries import RetryPolicy
from agentflow.testing.anthropic_server import FakeAnthropicServer, message_response
from agentflow.testing.prompt_cache import PromptCacheSimulator

MODEL = "claude-sonnet-5"
SYSTEM = "You are the travel desk of a company. " * 50  # about 500 tokens
FARES = "; ".join(f"flight LH{n} Paris-Rome 09:{n % 60:02d} EUR {100 + n}" for n in range(80))
EPHEMERAL = {"type": "ephemeral"}


@tool
def search_flights(route: str) -> str:
    """Flights on a route, with their fares."""
    return FARES


@pytest.fixture
def cache() -> PromptCacheSimulator:
    return PromptCacheSimulator(min_tokens=1024)


@pytest.fixture
def server(cache: PromptCacheSimulator) -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(prompt_cache=cache) as fake:
        yield fake


@pytest.fixture
async def model(server: FakeAnthropicServer) -> AsyncIterator[AnthropicModel]:
    made = AnthropicModel(
        MODEL, api_key="sk-ant-test", base_url=server.base_url, retry=RetryPolicy(max_retries=0)
    )
    yield made
    await made.client.close()


def answer(text: str) -> Any:
    return message_response([{"type": "text", "text": text}], model=MODEL)


def call_search() -> Any:
    block = {"type": "tool_use", "id": "toolu_1", "name": "search_flights", "input": {"route": "x"}}
    return message_response([block], stop_reason="tool_use", model=MODEL)


def marks(body: dict[str, Any]) -> list[str]:
    """Where ``body`` carries breakpoints: ``tools``, ``system`` or ``messages.<i>.<j>``."""
    found = [f"tools.{i}" for i, t in enumerate(body.get("tools", [])) if "cache_control" in t]
    found += [f"system.{i}" for i, b in enumerate(body.get("system", [])) if "cache_control" in b]
    for i, message in enumerate(body["messages"]):
        found += [
            f"messages.{i}.{j}" for j, b in enumerate(message["content"]) if "cache_control" in b
        ]
    return found


async def test_the_second_turn_reads_the_first_from_the_cache(
    server: FakeAnthropicServer, cache: PromptCacheSimulator, model: AnthropicModel
) -> None:
    # Tools and system prompt alone are under the 1,024-token minimum: breakpoints there only
    # would cache nothing, on any turn. The history is what grows and what pays.
    server.enqueue(call_search(), answer("LH3 is cheapest."), answer("Booked nothing yet."))
    agent = Agent(model, tools=[search_flights], system=SYSTEM)

    first = await agent.run("Flights to Rome?")
    second = await agent.run("And the earliest?", state=first.state)

    start, after_tool, next_turn = server.requests
    fixed = cache.prompt_tokens({**start.body, "messages": []})
    assert fixed < 1024  # the fixed part cannot be cached by itself
    assert start.body and after_tool.body and next_turn.body
    # Within the first turn the prefix grows past the minimum and is written ...
    assert first.usage.cache_creation_input_tokens > 0
    # ... and the next turn reads all of it: every token the previous request sent.
    assert second.usage.cache_read_input_tokens == cache.prompt_tokens(after_tool.body)
    assert second.usage.cache_read_input_tokens > fixed
    assert second.usage.input_tokens < second.usage.cache_read_input_tokens
    # Four breakpoints, the API's limit: tools, system, the newest two user messages.
    assert marks(next_turn.body) == ["tools.0", "system.0", "messages.2.0", "messages.4.0"]


async def test_without_a_cache_nothing_is_marked_or_read(
    server: FakeAnthropicServer, model: AnthropicModel
) -> None:
    server.enqueue(call_search(), answer("LH3."), answer("No."))
    uncached = AnthropicModel(MODEL, client=model.client, cache=None)
    agent = Agent(uncached, tools=[search_flights], system=SYSTEM)
    first = await agent.run("Flights to Rome?")
    second = await agent.run("And the earliest?", state=first.state)
    assert all(marks(r.body) == [] for r in server.requests)
    assert second.usage.cache_read_input_tokens == 0


async def test_one_hour_ttl_is_sent_where_asked_and_reported(
    server: FakeAnthropicServer, model: AnthropicModel
) -> None:
    server.enqueue(call_search(), answer("LH3."))
    hour = AnthropicModel(MODEL, client=model.client, cache=PromptCache(ttl="1h", messages=1))
    await Agent(hour, tools=[search_flights], system=SYSTEM).run("Flights to Rome?")
    body = server.requests[-1].body
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["messages"][-1]["content"][-1]["cache_control"] == EPHEMERAL
    assert marks(body) == ["tools.0", "system.0", "messages.2.0"]


async def test_thinking_blocks_never_carry_a_breakpoint(
    server: FakeAnthropicServer, model: AnthropicModel
) -> None:
    # The API refuses cache_control on thinking (and on empty text); the breakpoints go on the
    # user messages, the last block of each that can carry one.
    server.enqueue(answer("ok"))
    request = ModelRequest(
        system="",
        messages=(
            Message(role="user", content=(TextBlock(text="hi"),)),
            Message(
                role="assistant",
                content=(
                    ThinkingBlock(thinking="t", signature="s"),
                    ToolUseBlock(id="a", name="t", input={}),
                ),
            ),
            Message(
                role="user",
                content=(ToolResultBlock(tool_use_id="a", content="ok"), TextBlock(text="")),
            ),
        ),
        tools=(ToolDefinition(name="t", description="", input_schema={"type": "object"}),),
    )
    await model.request(request)
    assert marks(server.requests[0].body) == ["tools.0", "messages.0.0", "messages.2.0"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"messages": 3}, "must be 0, 1 or 2"),
        ({"messages_ttl": "1h"}, "longer-lived breakpoints"),
    ],
)
def test_a_cache_the_api_would_refuse_is_refused_at_once(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PromptCache(**kwargs)


def test_the_simulated_cache_misses_a_changed_prefix_and_skips_short_ones() -> None:
    cache = PromptCacheSimulator(min_tokens=100)
    long_text = {"type": "text", "text": "x" * 800, "cache_control": EPHEMERAL}

    def body(text: str) -> dict[str, Any]:
        return {"model": MODEL, "system": [long_text], "messages": [_user(text)]}

    system = cache.prompt_tokens({"system": [long_text]})
    first = cache.usage(body("a"))
    assert (first["cache_read_input_tokens"], first["cache_creation_input_tokens"]) == (0, system)
    assert first["input_tokens"] == cache.prompt_tokens(body("a")) - system
    assert cache.usage(body("b"))["cache_read_input_tokens"] == system
    other = {**body("a"), "model": "claude-other"}
    assert cache.usage(other)["cache_read_input_tokens"] == 0  # caches are per model
    short = {
        "model": MODEL,
        "messages": [{"role": "user", "content": [{**long_text, "text": "s"}]}],
    }
    assert cache.usage(short)["cache_creation_input_tokens"] == 0
    cache.clear()
    assert cache.usage(body("a"))["cache_read_input_tokens"] == 0


async def test_the_fake_refuses_breakpoints_the_api_would(
    server: FakeAnthropicServer, model: AnthropicModel
) -> None:
    server.enqueue(answer("no"))
    mark = {"type": "text", "text": "hi", "cache_control": EPHEMERAL}
    # Five breakpoints, sent through the SDK as a client that marks every block would.
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
        await model.client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[{"role": "user", "content": [mark] * 5}],  # pyright: ignore[reportArgumentType]
        )


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}
