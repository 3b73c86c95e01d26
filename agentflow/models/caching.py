"""Where [`AnthropicModel`][agentflow.AnthropicModel] asks the Messages API to cache.

The Messages API caches a prompt's prefix up to a block marked with ``cache_control`` (a
*breakpoint*), in render order: tools, then the system prompt, then the messages. A later
request that starts with the same prefix reads it from the cache (billed at a tenth of the
input price) instead of processing it again; writing it costs a quarter more than plain input
(twice as much for a one-hour TTL). A request may carry at most four breakpoints, a prefix
shorter than the model's minimum (1,024 tokens for most models) is not cached at all, and a hit
is looked for only at the block boundaries up to 20 blocks before each breakpoint.

So breakpoints on the tools and the system prompt alone are inert for an agent whose prompt is
short, and pay for a small part of a long conversation at best: the growing history is what is
sent again on every step. `PromptCache` therefore also marks the last block of the latest
user messages (two by default). The newest is where the next request will find its prefix
written; the one before is where the previous request ended (the loop's requests always end
with a user message), so this request reads everything the previous one wrote, however many
blocks the model's answer and the tool results added in between.

OpenAI's APIs cache prefixes by themselves (nothing to mark); `PromptCache` is the
Messages API's.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentflow.exceptions import ConfigurationError

__all__ = ["DEFAULT_PROMPT_CACHE", "MAX_BREAKPOINTS", "CacheTTL", "PromptCache"]

CacheTTL = Literal["5m", "1h"]
"""How long a cached prefix lives after its last use: five minutes, or an hour."""

MAX_BREAKPOINTS = 4
"""The most ``cache_control`` blocks the Messages API accepts in one request."""

_UNCACHEABLE = frozenset({"thinking", "redacted_thinking"})
"""Blocks the API refuses a ``cache_control`` on (they are cached with what surrounds them)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptCache:
    """Which parts of a request carry a cache breakpoint, and for how long they are kept.

    Args:
        tools: a breakpoint after the last tool definition.
        system: a breakpoint after the system prompt.
        messages: breakpoints on the latest user messages (0 to 2; see the module docstring).
        ttl: the lifetime of the tools' and system prompt's entries.
        messages_ttl: the lifetime of the messages' entries. The API wants longer-lived
            breakpoints before shorter-lived ones, so it cannot be longer than ``ttl``.

    Raises:
        ConfigurationError: ``messages`` out of range (with the tools and the system prompt,
            two keeps a request within `MAX_BREAKPOINTS`), or ``messages_ttl`` longer
            than ``ttl``.
    """

    tools: bool = True
    system: bool = True
    messages: int = 2
    ttl: CacheTTL = "5m"
    messages_ttl: CacheTTL = "5m"

    def __post_init__(self) -> None:
        if not 0 <= self.messages <= 2:
            raise ConfigurationError(
                f"PromptCache.messages must be 0, 1 or 2, not {self.messages}: the newest user "
                "message and the one the previous request ended with are the breakpoints that pay"
            )
        if (
            (self.tools or self.system)
            and self.messages
            and (self.ttl, self.messages_ttl)
            == (
                "5m",
                "1h",
            )
        ):
            raise ConfigurationError(
                "PromptCache.messages_ttl='1h' with ttl='5m': the Messages API wants the "
                "longer-lived breakpoints (tools, system) first; use ttl='1h' as well"
            )

    @property
    def breakpoints(self) -> int:
        """How many breakpoints a request with tools, a system prompt and history carries."""
        return int(self.tools) + int(self.system) + self.messages

    def control(self, ttl: CacheTTL) -> dict[str, str]:
        """The ``cache_control`` value for ``ttl`` (the 5-minute default is left implicit)."""
        return {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": ttl}

    def mark_messages(self, messages: Sequence[MutableMapping[str, Any]]) -> None:
        """Put the message breakpoints on ``messages`` (Messages API params, changed in place).

        The last cacheable block of each of the latest `messages` user messages is marked;
        thinking blocks cannot carry one, and a message with nothing else is passed over.
        """
        left = self.messages
        for message in reversed(messages):
            if left == 0:
                return
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if not isinstance(content, list):
                continue
            blocks: list[MutableMapping[str, Any]] = content  # pyright: ignore[reportUnknownVariableType]
            for block in reversed(blocks):
                if block.get("type") not in _UNCACHEABLE and block.get("text", "x") != "":
                    block["cache_control"] = self.control(self.messages_ttl)
                    left -= 1
                    break


DEFAULT_PROMPT_CACHE = PromptCache()
"""Tools, system prompt and the latest two user messages, each kept five minutes."""
