"""A durable conversation whose answer shows while the model writes it (live text)."""

import asyncio
import tempfile
import threading
from pathlib import Path

from agentflow import Agent, AnthropicModel
from agentflow.events import TextDelta
from agentflow.temporal import AgentClient, AgentReply, DevServer, LiveText, Step, create_worker
from agentflow.testing.anthropic_server import FakeAnthropicServer, ScriptedResponse, message_body

ANSWER = "Your flight to Zurich is LX318, at 09:40."


async def main() -> None:
    # The stand-in holds its stream half-way until the client has shown the first words.
    hold = threading.Event()
    body = message_body([{"type": "text", "text": ANSWER}])
    with (
        FakeAnthropicServer(ScriptedResponse(200, body, hold=hold)) as claude,
        tempfile.TemporaryDirectory() as folder,
    ):
        agent = Agent(AnthropicModel("claude-sonnet-5", api_key="test", base_url=claude.base_url))
        # The application database, which the worker and every client reach.
        live = LiveText.from_url(f"sqlite:///{Path(folder) / 'app.db'}")
        async with DevServer() as server:
            client = await server.client()
            async with create_worker(client, [agent], task_queue="travel", live_text=live):
                agents = AgentClient(client, task_queue="travel", live_text=live)
                conversation = await agents.start_conversation(agent.name, user="ann")
                async for item in agents.stream(conversation, "A flight to Zurich", sender="ann"):
                    if isinstance(item, TextDelta) and not hold.is_set():
                        print(f"while the model writes: {item.text!r}")
                        hold.set()
                    elif isinstance(item, Step):
                        print(f"step: {item.kind}")
                    elif isinstance(item, AgentReply):
                        print(f"reply: {item.output}")


asyncio.run(main())
