"""Tools served by an MCP server, as agentflow tools under the same rules as Python ones.

An `MCPServer` connects to one server with the official ``mcp`` SDK's client: a URL is
Streamable HTTP, `StdioServerParameters` a subprocess on stdio. Its
`tools` become [`Tool`][agentflow.Tool] objects, so everything that holds
for a Python tool holds for them: arguments are validated (against the server's own JSON schema)
before anything runs, preconditions attached by tool name are evaluated in code before each call
and can ask for an approval bound to the exact call, and a side-effecting call runs alone::

    async with MCPServer("http://127.0.0.1:8000/mcp") as server:
        tools = await server.tools(requires={"book_flight": under_the_cap})
        agent = Agent(model, tools=tools)

A tool counts as side-effecting unless the server marks it read-only (``readOnlyHint``): a
server's hints are claims, and the safe reading of no claim is "it writes". A precondition named
for a tool the server does not list is refused, so a typo never leaves a write tool unguarded.
A call the server answers with ``isError`` goes back to the model as an error result.
"""

from __future__ import annotations

from agentflow.extras import require

require("mcp", "agentflow.mcp_tools")  # a missing extra is one line naming it

import json
import re
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, cast, get_args

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    TextContent,
)
from mcp_types import Tool as MCPTool

from agentflow.exceptions import ConfigurationError, ModelRetry, ToolDefinitionError
from agentflow.messages import Attachment, DocumentBlock, ImageBlock, ImageMediaType
from agentflow.preconditions import Precondition
from agentflow.tools import Tool

__all__ = ["MCPServer", "StdioServerParameters"]


class MCPServer:
    """One MCP server's tools, for the life of this context (the connection stays open).

    Args:
        server: The server's Streamable HTTP URL, or how to start it on stdio.
        prefix: Put before each tool's name (``"crm_"``), to keep two servers' tools apart.
        timeout_s: Seconds allowed for one call to the server.
    """

    def __init__(
        self,
        server: str | StdioServerParameters,
        *,
        prefix: str = "",
        timeout_s: float = 30.0,
    ) -> None:
        self._server = server
        self._prefix = prefix
        self._timeout_s = timeout_s
        self._client: Client | None = None
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> MCPServer:
        stack = AsyncExitStack()
        try:
            client = Client(self._server, read_timeout_seconds=self._timeout_s)
            self._client = await stack.enter_async_context(client)
        except Exception as exc:
            await stack.aclose()
            raise ConfigurationError(
                f"could not connect to the MCP server {self!r}: {exc}"
            ) from exc
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def __repr__(self) -> str:
        server = self._server if isinstance(self._server, str) else self._server.command
        return f"MCPServer({server!r})"

    async def tools(
        self,
        *,
        requires: Mapping[str, Precondition] | None = None,
        include: Iterable[str] | None = None,
    ) -> list[Tool[Any]]:
        """The server's tools (those in ``include``, by the server's names, when given).

        Args:
            requires: Preconditions by the server's tool name; each must name a listed tool.
            include: Only these tools; each must be listed.

        Raises:
            ConfigurationError: A name in ``requires`` or ``include`` that the server does not
                list, or a tool name agentflow cannot use.
        """
        client = self._connected()
        listed: list[MCPTool] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            listed += page.tools
            cursor = page.next_cursor
            if not cursor:
                break
        by_name = {t.name: t for t in listed}
        rules = dict(requires or {})
        wanted = list(by_name) if include is None else list(include)
        unknown = sorted((set(rules) | set(wanted)) - set(by_name))
        if unknown:
            raise ConfigurationError(
                f"{self!r} lists no tool {', '.join(unknown)} (it lists: {', '.join(by_name)})"
            )
        return [self._tool(by_name[name], rules.get(name)) for name in wanted]

    def _connected(self) -> Client:
        if self._client is None:
            raise ConfigurationError(f"{self!r} is not connected: use it as `async with`")
        return self._client

    def _tool(self, listed: MCPTool, requires: Precondition | None) -> Tool[Any]:
        name = f"{self._prefix}{listed.name}"
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
            raise ConfigurationError(f"the MCP tool name {name!r} is not one a model accepts")
        hints = listed.annotations
        read_only = bool(hints is not None and hints.read_only_hint)

        async def call(arguments: dict[str, Any]) -> str | list[str | Attachment]:
            result = await self._connected().call_tool(listed.name, arguments)
            text = _result_text(result)
            files = [f for f in map(_file, result.content) if f is not None]
            # Images and PDFs go to the model with the text (see agentflow.tools.split_result).
            return [text, *files] if files else text

        try:
            return Tool.from_schema(
                name,
                listed.input_schema or {"type": "object"},
                call,
                description=listed.description or listed.title or listed.name,
                requires=requires,
                side_effects=not read_only,
            )
        except ToolDefinitionError as exc:
            raise ConfigurationError(f"{self!r}: {exc}") from None


def _file(block: object) -> Attachment | None:
    """An MCP image, or an embedded PDF, as the block the model is sent; ``None`` otherwise."""
    if isinstance(block, ImageContent) and block.mime_type in get_args(ImageMediaType):
        return ImageBlock(media_type=cast(ImageMediaType, block.mime_type), data=block.data)
    if isinstance(block, EmbeddedResource):
        resource = block.resource
        if isinstance(resource, BlobResourceContents) and resource.mime_type == "application/pdf":
            return DocumentBlock(data=resource.blob, title=str(resource.uri))
    return None


def _result_text(result: CallToolResult) -> str:
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif _file(block) is None:
            parts.append(f"[{block.type} content omitted]")
    text = "\n".join(parts)
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False, sort_keys=True)
    if result.is_error:
        raise ModelRetry(text or "the MCP tool failed")
    return text
