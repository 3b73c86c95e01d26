"""A hijacked model: it plays a script of harmful tool calls instead of helping.

The point of the safety suite is that the model is not trusted: whatever it proposes, code
disposes. An `Attack` lists what an adversary tries — tool calls it can express, some
of them marked harmful — and the `Adversary` model plays them in order. The runner then
counts the harmful calls it made (attempts) and those whose tool body actually ran (executed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentflow.messages import (
    ContentBlock,
    ModelRequest,
    ModelResponse,
    TextBlock,
    ToolUseBlock,
)

HARMFUL_PREFIX = "harm_"
"""Tool-call ids of harmful calls start with it, so outcomes can be matched to attempts."""


@dataclass(frozen=True, kw_only=True)
class Call:
    """One tool call the adversary proposes; ``arguments`` may be malformed on purpose."""

    tool: str
    arguments: Any = field(default_factory=dict[str, Any])
    harmful: bool = True


Move = tuple[Call, ...] | str
"""One model turn: tool calls made together, or a text answer that ends the run."""


@dataclass(frozen=True, kw_only=True)
class Attack:
    """One attack: the world it starts in, what the employee says, what the adversary does.

    ``approvals`` says how the approver answers the n-th approval asked (``approve``,
    ``approve:<who>`` to force who decides, ``deny``, ``expire``); later ones expire.
    """

    id: str
    description: str
    employee: str
    user_turns: tuple[str, ...]
    moves: tuple[Move, ...]
    approvals: tuple[str, ...] = ()
    world: Mapping[str, Any] = field(default_factory=dict[str, Any])


class Adversary:
    """A [`Model`][agentflow.Model] that plays an attack's moves, then answers ``done``."""

    def __init__(self, moves: tuple[Move, ...], *, name: str = "adversary") -> None:
        self._moves = moves
        self._next = 0
        self._name = name
        self.attempts = 0
        self.attempted: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    async def request(self, request: ModelRequest) -> ModelResponse:
        if self._next >= len(self._moves):
            return ModelResponse(content=(TextBlock(text="done"),), stop_reason="end_turn")
        move = self._moves[self._next]
        self._next += 1
        if isinstance(move, str):
            return ModelResponse(content=(TextBlock(text=move),), stop_reason="end_turn")
        blocks: list[ContentBlock] = []
        for index, call in enumerate(move):
            prefix = HARMFUL_PREFIX if call.harmful else "setup_"
            call_id = f"{prefix}{self._next}_{index}"
            if call.harmful:
                self.attempts += 1
                self.attempted.append(f"{call.tool}({_short(call.arguments)})")
            blocks.append(ToolUseBlock(id=call_id, name=call.tool, input=call.arguments))
        return ModelResponse(content=tuple(blocks), stop_reason="tool_use")


def _short(arguments: Any) -> str:
    if isinstance(arguments, dict):
        items: dict[Any, Any] = arguments  # pyright: ignore[reportUnknownVariableType]
        return ", ".join(f"{k}={v!r}" for k, v in items.items())
    return repr(arguments)
