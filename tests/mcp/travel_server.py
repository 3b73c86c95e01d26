"""A small MCP server the tests start: stdio by default, Streamable HTTP with ``--http PORT``.

It books into a JSON-lines file named by ``TRAVEL_MCP_LEDGER``, so a test can read what the
server's write tool really did.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ImageContent, TextContent, ToolAnnotations

server = MCPServer("travel")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def search_flights(origin: str, destination: str) -> str:
    """Search flights between two airports."""
    return json.dumps([{"flight_id": "LX318", "price": 9400}, {"flight_id": "LX14", "price": 800}])


@server.tool()
def book_flight(flight_id: str, price: float) -> str:
    """Book a flight for the traveller."""
    with Path(os.environ["TRAVEL_MCP_LEDGER"]).open("a") as ledger:
        ledger.write(json.dumps({"flight_id": flight_id, "price": price}) + "\n")
    return f"booked {flight_id} at {price}"


SEAT_MAP = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def seat_map(flight_id: str) -> list[TextContent | ImageContent]:
    """The seat map of a flight, as an image."""
    return [
        TextContent(type="text", text=f"seat map of {flight_id}"),
        ImageContent(type="image", data=SEAT_MAP, mime_type="image/png"),
    ]


@server.tool()
def cancel_everything() -> str:
    """Cancel every booking."""
    raise ToolError("cancellation desk is closed")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
