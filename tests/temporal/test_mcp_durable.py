"""An MCP server's tools on a worker: the activity calls the server, the workflow holds only
their definitions, and the preconditions attached by name guard the durable calls too."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from agentflow import Agent
from agentflow.mcp_tools import MCPServer, StdioServerParameters
from agentflow.messages import ModelRequest, ModelResponse, ToolResultBlock
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import FunctionModel, text_response, tool_call
from tests.mcp.test_mcp_tools import within_policy

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVER = Path(__file__).parents[1] / "mcp" / "travel_server.py"


def answer(request: ModelRequest) -> ModelResponse:
    last = request.messages[-1]
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    if results:
        return text_response(("refused: " if results[0].is_error else "") + results[0].content)
    price = float(last.text.split()[-1])
    return tool_call("book_flight", flight_id="LX318", price=price)


async def test_a_durable_agent_books_through_the_mcp_server_within_its_rules(
    dev_server: DevServer, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    env = {"TRAVEL_MCP_LEDGER": str(ledger), "PATH": os.environ.get("PATH", "")}
    target = StdioServerParameters(command=sys.executable, args=[str(SERVER)], env=env)
    client = await dev_server.client()
    queue = f"mcp-{uuid.uuid4().hex}"
    async with MCPServer(target) as travel:
        tools = await travel.tools(requires={"book_flight": within_policy})
        agent = Agent(FunctionModel(answer), tools=tools, name=f"mcp-{uuid.uuid4().hex[:8]}")
        async with create_worker(client, [agent], task_queue=queue):
            agents = AgentClient(client, task_queue=queue)
            conversation = await agents.start_conversation(agent.name, user="ann")
            booked = await agents.send(conversation, "book at 900", sender="ann")
            refused = await agents.send(conversation, "book at 90000", sender="ann")
    assert booked.status == "completed" and "LX318" in booked.output
    assert refused.output.startswith("refused: Refused by precondition: 90000.0 is above")
    # The server saw the allowed call only, once.
    lines = ledger.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"flight_id": "LX318", "price": 900.0}]
