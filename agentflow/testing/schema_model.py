"""``TestModel``: an offline model for your own agent, from the tools' schemas alone.

It needs no script: on the first step of a run it calls the agent's tools (all of them, or those
named) with arguments built from each tool's JSON schema, and once the results are in it answers
with a short text that lists them. So a test can drive one's own agent end to end — validation,
preconditions, approvals, the tool bodies — without writing a model turn by hand::

    result = await Agent(TestModel(), tools=[refund]).run("refund A-17")

The arguments are the simplest values the schema admits: the first of an ``enum``, a
``minimum``, a date for ``format: date``, a string that matches a simple ``pattern``. Give
``arguments={"tool": {...}}`` where that is not the value a test wants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from agentflow.messages import (
    ContentBlock,
    ModelRequest,
    ModelResponse,
    TextBlock,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
)
from agentflow.output import OUTPUT_TOOL

__all__ = ["TestModel", "example_arguments"]

_STRING_CANDIDATES = ("a", "A", "AAA", "aaa", "1", "A1", "x@example.com", "2026-01-05")


class TestModel:
    """Calls the agent's tools with schema-valid arguments, then answers in one line.

    An agent with an ``output_type`` is answered through its output tool instead, with
    schema-valid arguments (or ``arguments["final_result"]``), after the other tools.

    Args:
        call_tools: ``"all"``, or the names of the tools to call (in this order).
        arguments: per tool name, arguments to use instead of the generated ones.
        text: the final answer; by default a line naming each tool's result.
    """

    __test__ = False  # a model, not a pytest test class

    def __init__(
        self,
        *,
        call_tools: Sequence[str] | Literal["all"] = "all",
        arguments: Mapping[str, Mapping[str, Any]] | None = None,
        text: str | None = None,
    ) -> None:
        self._call_tools = call_tools
        self._arguments = dict(arguments or {})
        self._text = text
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return "test"

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        last = request.messages[-1] if request.messages else None
        results = (
            [b for b in last.content if isinstance(b, ToolResultBlock)] if last is not None else []
        )
        output = next((t for t in request.tools if t.name == OUTPUT_TOOL), None)
        tools = [t for t in request.tools if t is not output]
        if results or not tools:
            if output is not None:
                answer = dict(self._arguments.get(output.name) or example_arguments(output))
                call = ToolUseBlock(
                    id=f"toolu_test_{len(request.messages)}", name=output.name, input=answer
                )
                return ModelResponse(content=(call,), stop_reason="tool_use")
            return ModelResponse(
                content=(TextBlock(text=self._answer(results)),), stop_reason="end_turn"
            )
        tools = self._chosen(tools)
        turn = len(request.messages)
        calls: list[ContentBlock] = [
            ToolUseBlock(
                id=f"toolu_test_{turn}_{index}",
                name=tool.name,
                input=dict(self._arguments.get(tool.name) or example_arguments(tool)),
            )
            for index, tool in enumerate(tools)
        ]
        if not calls:
            return ModelResponse(content=(TextBlock(text=self._answer([])),))
        return ModelResponse(content=tuple(calls), stop_reason="tool_use")

    def _chosen(self, tools: Sequence[ToolDefinition]) -> list[ToolDefinition]:
        if self._call_tools == "all":
            return list(tools)
        by_name = {t.name: t for t in tools}
        unknown = [n for n in self._call_tools if n not in by_name]
        if unknown:
            raise ValueError(f"TestModel: the agent has no tool {', '.join(unknown)}")
        return [by_name[n] for n in self._call_tools]

    def _answer(self, results: Sequence[ToolResultBlock]) -> str:
        if self._text is not None:
            return self._text
        if not results:
            return "done"
        return json.dumps(
            {r.tool_use_id: ("error: " if r.is_error else "") + r.content for r in results}
        )


def example_arguments(tool: ToolDefinition) -> dict[str, Any]:
    """The simplest arguments ``tool``'s schema admits (required properties only)."""
    schema = tool.input_schema
    value = _example(schema, schema.get("$defs", {}), required_only=True)
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _example(schema: Mapping[str, Any], defs: Mapping[str, Any], *, required_only: bool) -> Any:
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _example(defs.get(name, {}), defs, required_only=required_only)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return _example(options[0], defs, required_only=required_only)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in cast(list[str], kind) if k != "null"), "null")
    match kind:
        case "object":
            properties: Mapping[str, Any] = schema.get("properties", {})
            required = set(schema.get("required", properties))
            return {
                name: _example(sub, defs, required_only=required_only)
                for name, sub in properties.items()
                if name in required or not required_only
            }
        case "array":
            count = int(schema.get("minItems", 1))
            item = _example(schema.get("items", {}), defs, required_only=required_only)
            return [item] * count
        case "integer":
            return int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
        case "number":
            if "minimum" in schema:
                return schema["minimum"]
            if "exclusiveMinimum" in schema:
                return schema["exclusiveMinimum"] + 1
            return 1
        case "boolean":
            return True
        case "null":
            return None
        case _:
            return _string(schema)


def _string(schema: Mapping[str, Any]) -> str:
    match schema.get("format"):
        case "date":
            return "2026-01-05"
        case "date-time":
            return "2026-01-05T09:00:00Z"
        case "email":
            return "x@example.com"
        case "uuid":
            return "00000000-0000-4000-8000-000000000000"
        case _:
            pass
    pattern = schema.get("pattern")
    minimum = int(schema.get("minLength", 1))
    candidates = [c * max(1, minimum // len(c) + 1) for c in _STRING_CANDIDATES]
    for candidate in (*_STRING_CANDIDATES, *candidates):
        if len(candidate) < minimum:
            continue
        if pattern is None or re.search(pattern, candidate):
            return candidate
    return "a" * minimum
