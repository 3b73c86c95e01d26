"""Models for tests: one driven by a Python function, one that replays a script of turns."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

from agentflow.exceptions import ModelError
from agentflow.messages import (
    ContentBlock,
    ModelRequest,
    ModelResponse,
    TextBlock,
    ToolUseBlock,
    Usage,
)

ModelFunction = Callable[[ModelRequest], "ModelResponse | str | Awaitable[ModelResponse | str]"]
"""Gets the full request; returns a response, or plain text for a final answer."""

Turn = ModelResponse | str | ModelError


def text_response(text: str, *, usage: Usage | None = None) -> ModelResponse:
    """A final answer."""
    return ModelResponse(
        content=(TextBlock(text=text),), stop_reason="end_turn", usage=usage or Usage()
    )


def tool_call(
    name: str, arguments: Any = None, /, *, id: str | None = None, text: str = "", **kwargs: Any
) -> ModelResponse:
    """A response that calls one tool: ``tool_call("book", flight="LX14")``.

    ``arguments`` may be anything, including malformed input (a string, a list), to test how
    the runtime copes; keyword arguments build a well-formed dict.
    """
    return tool_calls((name, kwargs if arguments is None else arguments, id), text=text)


def tool_calls(*calls: tuple[str, Any, str | None], text: str = "") -> ModelResponse:
    """A response with several parallel tool calls: ``(name, arguments, id or None)`` each."""
    blocks: list[ContentBlock] = [TextBlock(text=text)] if text else []
    for index, (name, arguments, call_id) in enumerate(calls):
        blocks.append(
            ToolUseBlock(id=call_id or f"toolu_{name}_{index}", name=name, input=arguments)
        )
    return ModelResponse(content=tuple(blocks), stop_reason="tool_use")


class FunctionModel:
    """A model whose every answer is computed by ``function(request)``; sync or async."""

    def __init__(self, function: ModelFunction, *, name: str = "function") -> None:
        self._function = function
        self._name = name
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return self._name

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        answer = self._function(request)
        if isinstance(answer, ModelResponse):
            return answer
        if inspect.isawaitable(answer):
            answer = await answer
        return text_response(answer) if isinstance(answer, str) else answer


class ScriptedModel:
    """Replays ``turns`` in order: responses, plain text answers, or errors to raise.

    Tool call ids are made unique per call, so one scripted turn can be replayed many times
    (``ScriptedModel([turn] * 10)``) without the transcript repeating an id.
    """

    def __init__(self, turns: Iterable[Turn], *, name: str = "scripted") -> None:
        self._turns = list(turns)
        self._name = name
        self._served = 0
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def remaining(self) -> int:
        return len(self._turns) - self._served

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if self._served >= len(self._turns):
            raise AssertionError(f"ScriptedModel ran out of turns after {self._served} calls")
        turn = self._turns[self._served]
        self._served += 1
        if isinstance(turn, ModelError):
            raise turn
        if isinstance(turn, str):
            return text_response(turn)
        return _unique_ids(turn, self._served)


def _unique_ids(response: ModelResponse, serial: int) -> ModelResponse:
    if not response.tool_calls:
        return response
    content = tuple(
        replace(block, id=f"{block.id}_{serial}") if isinstance(block, ToolUseBlock) else block
        for block in response.content
    )
    return replace(response, content=content)
