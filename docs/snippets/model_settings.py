"""Sampling settings and the end user, as each provider's stand-in receives them."""

import asyncio

from agentflow import Agent, AnthropicModel, ConfigurationError, ModelSettings, OpenAIModel
from agentflow.testing.anthropic_server import FakeAnthropicServer, message_response
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response


async def main() -> None:
    with FakeOpenAIServer(completion_response(content="Rome")) as gpt:
        model = OpenAIModel("gpt-5", api_key="test", base_url=gpt.base_url)
        settings = ModelSettings(temperature=0.2, top_p=0.9, stop_sequences=("END",))
        await Agent(model, settings=settings).run("Where to?", user="alice@example.com")
        sent = gpt.requests[0].body
        print({key: sent[key] for key in ("temperature", "top_p", "stop")})
        print("safety_identifier:", sent["safety_identifier"][:16], "...")

    with FakeAnthropicServer(message_response([{"type": "text", "text": "Rome"}])) as claude:
        model = AnthropicModel("claude-sonnet-5", api_key="test", base_url=claude.base_url)
        await Agent(model, settings=ModelSettings(stop_sequences=("END",))).run(
            "Where to?", user="alice@example.com"
        )
        sent = claude.requests[0].body
        print(
            "stop_sequences:", sent["stop_sequences"], "user_id:", sent["metadata"]["user_id"][:16]
        )
        try:
            await Agent(model, settings=ModelSettings(temperature=0.2)).run("Where to?")
        except ConfigurationError as err:
            print("refused:", err)


asyncio.run(main())
