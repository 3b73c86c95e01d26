"""The Messages API's prompt cache, simulated for `FakeAnthropicServer`.

Given to the fake server (``FakeAnthropicServer(..., prompt_cache=PromptCacheSimulator())``),
it rewrites the usage of every scripted 200 message the way the API would count the request
that received it, so that a test sees whether its breakpoints pay:

- the prompt is read in render order (tools, system, messages), one block at a time, and each
  block's tokens are estimated as a quarter of its JSON length (at least one);
- a prefix is written to the cache at each breakpoint (a block with ``cache_control``) once it
  holds at least ``min_tokens`` tokens; it is keyed by the model and the exact content before
  it (``cache_control`` itself excluded), and lives for its TTL after its last use;
- a request reads the longest cached prefix that ends at a block boundary up to ``lookback``
  blocks before one of its breakpoints (without a breakpoint nothing is read);
- ``cache_read_input_tokens`` is that prefix, ``cache_creation_input_tokens`` what the request
  writes beyond it (split by TTL in ``cache_creation``), ``input_tokens`` the rest;
- a request with more than four breakpoints, or a one-hour breakpoint after a five-minute one,
  is refused with the API's 400.

The scripted ``output_tokens`` are kept.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

__all__ = ["CacheRefusal", "PromptCacheSimulator"]

_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


class CacheRefusal(ValueError):
    """A request the API would refuse for its breakpoints (the message is the API's)."""


@dataclass(frozen=True, slots=True)
class _Block:
    key: str
    """Digest of the model and every block up to and including this one."""
    tokens: int
    """Tokens up to and including this block."""
    ttl: str | None
    """The breakpoint's TTL when this block carries ``cache_control``."""


class PromptCacheSimulator:
    """A prompt cache that counts tokens the way the Messages API reports them.

    Args:
        min_tokens: the shortest prefix that is cached (1,024 for most models).
        lookback: how many block boundaries before a breakpoint are checked for a hit.
        clock: seconds, for the TTLs; ``time.monotonic`` by default.
    """

    def __init__(
        self,
        *,
        min_tokens: int = 1024,
        lookback: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_tokens = min_tokens
        self.lookback = lookback
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, str]] = {}
        """Cached prefixes: their key, when they expire and their TTL."""

    def clear(self) -> None:
        """Forget every cached prefix (as if their TTLs had passed)."""
        with self._lock:
            self._entries.clear()

    def prompt_tokens(self, body: Mapping[str, Any]) -> int:
        """The estimated size of the whole prompt of ``body``, in tokens."""
        blocks = _blocks(body)
        return blocks[-1].tokens if blocks else 0

    def usage(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The usage the API reports for the request ``body``, with the cache updated.

        Raises:
            CacheRefusal: the request's breakpoints are not allowed.
        """
        blocks = _blocks(body)
        breakpoints = [i for i, block in enumerate(blocks) if block.ttl is not None]
        if len(breakpoints) > 4:
            raise CacheRefusal(
                "A maximum of 4 blocks with cache_control may be provided. "
                f"Found {len(breakpoints)}."
            )
        ttls = [blocks[i].ttl for i in breakpoints]
        if "1h" in ttls and "5m" in ttls[: ttls.index("1h")]:
            raise CacheRefusal(
                "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block"
            )
        total = blocks[-1].tokens if blocks else 0
        now = self._clock()
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            read_at = self._hit(blocks, breakpoints)
            read = blocks[read_at].tokens if read_at >= 0 else 0
            written = {"5m": 0, "1h": 0}
            done = read
            for i in breakpoints:
                block = blocks[i]
                ttl = cast(str, block.ttl)
                if i <= read_at:
                    # Read again: the entry lives on for its TTL from now.
                    if block.key in self._entries:
                        self._entries[block.key] = (now + _TTL_SECONDS[ttl], ttl)
                    continue
                if block.tokens < self.min_tokens:
                    continue
                written[ttl] += block.tokens - done
                done = block.tokens
                self._entries[block.key] = (now + _TTL_SECONDS[ttl], ttl)
        created = written["5m"] + written["1h"]
        return {
            "input_tokens": total - read - created,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": created,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written["5m"],
                "ephemeral_1h_input_tokens": written["1h"],
            },
        }

    def _hit(self, blocks: Sequence[_Block], breakpoints: Sequence[int]) -> int:
        """The index of the last block of the longest cached prefix found, or -1."""
        best = -1
        for point in breakpoints:
            for i in range(point, max(point - self.lookback, -1), -1):
                if i > best and blocks[i].key in self._entries:
                    best = i
                    break
        return best


def _blocks(body: Mapping[str, Any]) -> list[_Block]:
    """Every block of the prompt in render order, with the running digest and token count."""
    units: list[tuple[object, object]] = []
    for tool in cast(list[object], body.get("tools") or []):
        units.append(("tool", tool))
    system = body.get("system")
    if isinstance(system, str) and system:
        units.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        for block in cast(list[object], system):
            units.append(("system", block))
    for message in cast(list[Mapping[str, Any]], body.get("messages") or []):
        content = message.get("content")
        role = message.get("role")
        if isinstance(content, str):
            units.append((role, {"type": "text", "text": content}))
        else:
            for block in cast(list[object], content or []):
                units.append((role, block))
    digest = hashlib.sha256(str(body.get("model", "")).encode())
    tokens = 0
    blocks: list[_Block] = []
    for where, unit in units:
        fields = dict(cast(Mapping[str, Any], unit)) if isinstance(unit, Mapping) else {"v": unit}
        control = fields.pop("cache_control", None)
        encoded = json.dumps([where, fields], sort_keys=True, separators=(",", ":"))
        digest.update(encoded.encode())
        tokens += max(1, len(encoded) // 4)
        ttl = None
        if isinstance(control, Mapping):
            ttl = str(cast(Mapping[str, Any], control).get("ttl") or "5m")
        blocks.append(_Block(digest.hexdigest(), tokens, ttl))
    return blocks
