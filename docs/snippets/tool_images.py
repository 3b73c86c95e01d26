"""A tool returns an image: Claude gets it inside the tool result, OpenAI right after it."""

import asyncio

from agentflow import Agent, AnthropicModel, OpenAIModel, tool
from agentflow.attachments import attachment
from agentflow.testing.anthropic_server import FakeAnthropicServer, message_response
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response, tool_call_body

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # a chart, say


@tool
def fare_chart(route: str) -> list[object]:
    """A chart of the fares on a route."""
    return ["Fares for the next 30 days:", attachment(PNG, "image/png")]


async def main() -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": "fare_chart", "input": {"route": "ZRH"}}
    with FakeAnthropicServer(
        message_response([call], stop_reason="tool_use"),
        message_response([{"type": "text", "text": "Tuesday is cheapest."}]),
    ) as claude:
        model = AnthropicModel("claude-sonnet-5", api_key="test", base_url=claude.base_url)
        await Agent(model, tools=[fare_chart]).run("Cheapest day?")
        result = claude.requests[1].body["messages"][-1]["content"][0]
        print("claude:", result["type"], [block["type"] for block in result["content"]])

    with FakeOpenAIServer(
        completion_response(tool_calls=[tool_call_body("fare_chart", {"route": "ZRH"})]),
        completion_response(content="Tuesday is cheapest."),
    ) as gpt:
        model = OpenAIModel("gpt-5", api_key="test", base_url=gpt.base_url)
        await Agent(model, tools=[fare_chart]).run("Cheapest day?")
        *_, tool_message, files = gpt.requests[1].body["messages"]
        print("openai:", tool_message["role"], repr(tool_message["content"]))
        print("openai:", files["role"], [part["type"] for part in files["content"]])


asyncio.run(main())
