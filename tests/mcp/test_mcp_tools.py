"""Tools from a real local MCP server (stdio and Streamable HTTP), guarded like Python tools."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentflow import (
    Agent,
    Allow,
    ConfigurationError,
    Deny,
    NeedsApproval,
    RunContext,
    precondition,
)
from agentflow.mcp_tools import MCPServer, StdioServerParameters
from agentflow.messages import ToolResultBlock
from agentflow.testing import ScriptedModel, text_response, tool_call

SERVER = Path(__file__).with_name("travel_server.py")
Target = str | StdioServerParameters
HARD_CAP = 20_000.0
APPROVAL_ABOVE = 2_000.0


@precondition
def within_policy(ctx: RunContext[None], args: Any) -> Allow | Deny | NeedsApproval:
    """Above 2000 the manager approves; above 20000 nothing is booked."""
    if args.price > HARD_CAP:
        return Deny(f"{args.price} is above the hard cap of {HARD_CAP}")
    if args.price > APPROVAL_ABOVE:
        return NeedsApproval(f"{args.price} is above {APPROVAL_ABOVE}", approvers=["bob"])
    return Allow()


def booked(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


@pytest.fixture
def http_url(ledger: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "TRAVEL_MCP_LEDGER": str(ledger)}
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the MCP server did not start listening")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(params=["stdio", "http"])
def target(request: pytest.FixtureRequest, ledger: Path) -> Target:
    """Where the server is. Each test connects inside its own task: the SDK's client must be
    closed by the task that opened it, which an async fixture's teardown is not."""
    if request.param == "stdio":
        env = {"TRAVEL_MCP_LEDGER": str(ledger), "PATH": os.environ.get("PATH", "")}
        return StdioServerParameters(command=sys.executable, args=[str(SERVER)], env=env)
    return request.getfixturevalue("http_url")


async def test_a_servers_tools_keep_its_schema_and_hints(
    target: str | StdioServerParameters,
) -> None:
    async with MCPServer(target) as server:
        await _test_a_servers_tools_keep_its_schema_and_hints(server)


async def _test_a_servers_tools_keep_its_schema_and_hints(server: MCPServer) -> None:
    tools = {t.name: t for t in await server.tools()}
    assert set(tools) == {"search_flights", "book_flight", "seat_map", "cancel_everything"}
    search, book = tools["search_flights"], tools["book_flight"]
    assert (search.side_effects, search.concurrent) == (False, True)
    # No read-only claim: it writes, and runs alone.
    assert (book.side_effects, book.concurrent) == (True, False)
    assert book.definition.input_schema["required"] == ["flight_id", "price"]
    assert "Book a flight" in book.definition.description


async def test_a_write_tool_is_refused_by_a_precondition_then_approved_once(
    target: str | StdioServerParameters, ledger: Path
) -> None:
    async with MCPServer(target) as server:
        await _test_a_write_tool_is_refused_by_a_precondition_then_approved_once(server, ledger)


async def _test_a_write_tool_is_refused_by_a_precondition_then_approved_once(
    server: MCPServer, ledger: Path
) -> None:
    tools = await server.tools(requires={"book_flight": within_policy})
    model = ScriptedModel(
        [
            tool_call("book_flight", flight_id="LX318", price=9400, id="b1"),
            text_response("Booked LX318."),
        ]
    )
    agent = Agent(model, tools=tools)
    paused = await agent.run("book LX318", user="ann")
    assert paused.status == "awaiting_approval"
    assert booked(ledger) == []  # refused until a human approves
    (request,) = paused.pending_approvals
    done = await agent.resume(paused, [request.approve("bob")], user="ann")
    assert done.status == "completed"
    assert booked(ledger) == [{"flight_id": "LX318", "price": 9400.0}]
    with pytest.raises(Exception, match="already been used"):
        await agent.resume(paused, [request.approve("bob")], user="ann")
    assert len(booked(ledger)) == 1


async def test_a_call_above_the_cap_never_reaches_the_server(
    target: str | StdioServerParameters, ledger: Path
) -> None:
    async with MCPServer(target) as server:
        await _test_a_call_above_the_cap_never_reaches_the_server(server, ledger)


async def _test_a_call_above_the_cap_never_reaches_the_server(
    server: MCPServer, ledger: Path
) -> None:
    tools = await server.tools(requires={"book_flight": within_policy})
    model = ScriptedModel(
        [tool_call("book_flight", flight_id="LX1", price=90_000), text_response("Refused.")]
    )
    result = await Agent(model, tools=tools).run("book LX1")
    refused = model.requests[1].messages[-1].content[0]
    assert isinstance(refused, ToolResultBlock) and refused.is_error
    assert "hard cap" in refused.content
    assert result.status == "completed" and booked(ledger) == []


async def test_bad_arguments_are_refused_by_the_servers_schema_before_any_call(
    target: str | StdioServerParameters, ledger: Path
) -> None:
    async with MCPServer(target) as server:
        await _test_bad_arguments_are_refused_by_the_servers_schema_before_any_call(server, ledger)


async def _test_bad_arguments_are_refused_by_the_servers_schema_before_any_call(
    server: MCPServer, ledger: Path
) -> None:
    tools = await server.tools()
    model = ScriptedModel(
        [
            tool_call("book_flight", flight_id="LX1", price="cheap"),
            tool_call("book_flight", flight_id="LX1", price=100, extra="x"),
            text_response("ok"),
        ]
    )
    await Agent(model, tools=tools).run("book")
    first = model.requests[1].messages[-1].content[0]
    second = model.requests[2].messages[-1].content[0]
    assert isinstance(first, ToolResultBlock) and first.is_error and "price" in first.content
    assert isinstance(second, ToolResultBlock) and second.is_error
    assert booked(ledger) == []


async def test_a_server_error_goes_back_to_the_model(target: Target) -> None:
    async with MCPServer(target) as server:
        await _test_a_server_error_goes_back_to_the_model(server)


async def _test_a_server_error_goes_back_to_the_model(server: MCPServer) -> None:
    tools = await server.tools(include=["cancel_everything"])
    model = ScriptedModel([tool_call("cancel_everything"), text_response("It failed.")])
    await Agent(model, tools=tools).run("cancel")
    answer = model.requests[1].messages[-1].content[0]
    assert isinstance(answer, ToolResultBlock) and answer.is_error
    assert "cancellation desk is closed" in answer.content


async def test_a_guard_for_a_tool_the_server_does_not_list_is_refused(
    target: str | StdioServerParameters,
) -> None:
    async with MCPServer(target) as server:
        await _test_a_guard_for_a_tool_the_server_does_not_list_is_refused(server)


async def _test_a_guard_for_a_tool_the_server_does_not_list_is_refused(server: MCPServer) -> None:
    with pytest.raises(ConfigurationError, match="book_flights"):
        await server.tools(requires={"book_flights": within_policy})


async def test_a_server_that_is_not_connected_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="not connected"):
        await MCPServer("http://127.0.0.1:9/mcp").tools()


async def test_an_image_from_the_server_reaches_the_model(target: Target) -> None:
    async with MCPServer(target) as server:
        tools = await server.tools()
        model = ScriptedModel([tool_call("seat_map", flight_id="LX318"), text_response("ok")])
        result = await Agent(model, tools=tools).run("seats?")
    [answer] = [b for m in result.messages for b in m.content if isinstance(b, ToolResultBlock)]
    assert answer.content == "seat map of LX318"
    [image] = answer.attachments
    assert image.type == "image" and image.media_type == "image/png"
    assert not answer.is_error
