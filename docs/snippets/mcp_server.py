"""A tiny MCP server with one read tool and one write tool (started by mcp_tools.py)."""

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("refunds")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def order_total(order: str) -> float:
    """The amount paid for an order."""
    return 240.0


@server.tool()
def refund(order: str, amount: float) -> str:
    """Refund an order."""
    return f"refunded {amount} EUR on {order}"


if __name__ == "__main__":
    server.run()  # stdio
