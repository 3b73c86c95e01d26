"""What a run cost: list prices per million tokens, by provider and model family.

Prices change: the table is data, each provider's with the date its prices were read
(:data:`PRICES_AS_OF`). A model id is reduced to its family before the lookup: a provider
prefix (``anthropic:``, ``openai:``), a Bedrock id's region and vendor (``us.anthropic.``) and
version (``-v1:0``), a date (``-20250929``, ``@20250929``, ``-2024-08-06``) and ``-latest`` are
dropped, and the rest must name a family exactly. A prefix match would price an unknown newer
model (``claude-opus-4-7``) at an older family's rate (``claude-opus-4``); an unknown family
costs ``None``, shown as unknown, never a made-up zero. A run that used no tokens (an offline
model) costs nothing whatever its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentflow.messages import Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    @classmethod
    def anthropic(cls, input: float, output: float) -> Price:
        # A 5-minute cache write is billed at 1.25x the input price, a cache read at 0.1x.
        return cls(input=input, output=output, cache_write=input * 1.25, cache_read=input * 0.1)

    @classmethod
    def openai(cls, input: float, output: float, cached: float) -> Price:
        # OpenAI caches without a write charge; cached input has its own price.
        return cls(input=input, output=output, cache_write=input, cache_read=cached)


PRICES_AS_OF = {"anthropic": "2026-02-05", "openai": "2025-08-07"}
"""When each provider's list prices below were read."""

PRICES: dict[str, dict[str, Price]] = {
    "anthropic": {
        "claude-opus-4-6": Price.anthropic(5.0, 25.0),
        "claude-opus-4-5": Price.anthropic(5.0, 25.0),
        "claude-opus-4-1": Price.anthropic(15.0, 75.0),
        "claude-opus-4": Price.anthropic(15.0, 75.0),
        "claude-sonnet-5": Price.anthropic(3.0, 15.0),
        "claude-sonnet-4-5": Price.anthropic(3.0, 15.0),
        "claude-sonnet-4": Price.anthropic(3.0, 15.0),
        "claude-3-7-sonnet": Price.anthropic(3.0, 15.0),
        "claude-3-5-sonnet": Price.anthropic(3.0, 15.0),
        "claude-haiku-4-5": Price.anthropic(1.0, 5.0),
        "claude-3-5-haiku": Price.anthropic(0.8, 4.0),
        "claude-3-haiku": Price.anthropic(0.25, 1.25),
    },
    "openai": {
        "gpt-5": Price.openai(1.25, 10.0, 0.125),
        "gpt-5-mini": Price.openai(0.25, 2.0, 0.025),
        "gpt-5-nano": Price.openai(0.05, 0.4, 0.005),
        "gpt-4.1": Price.openai(2.0, 8.0, 0.5),
        "gpt-4.1-mini": Price.openai(0.4, 1.6, 0.1),
        "gpt-4.1-nano": Price.openai(0.1, 0.4, 0.025),
        "gpt-4o": Price.openai(2.5, 10.0, 1.25),
        "gpt-4o-mini": Price.openai(0.15, 0.6, 0.075),
        "o3": Price.openai(2.0, 8.0, 0.5),
        "o4-mini": Price.openai(1.1, 4.4, 0.275),
    },
}

_PROVIDER = re.compile(r"^(anthropic|openai|bedrock|vertex):")
_BEDROCK = re.compile(r"^(?:[a-z]{2,4}\.)?anthropic\.")
_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_DATE = re.compile(r"(?:[-@]\d{8}|-\d{4}-\d{2}-\d{2})$")


def model_family(model: str) -> str:
    """``model`` without provider, Bedrock decoration, version, date or ``-latest``."""
    name = _PROVIDER.sub("", model.strip())
    name = _BEDROCK.sub("", name)
    name = _VERSION.sub("", name)
    name = _DATE.sub("", name)
    return name.removesuffix("-latest")


def price_of(model: str, prices: dict[str, dict[str, Price]] | None = None) -> Price | None:
    """The price of ``model``'s family in any provider's table; ``None`` when none has it."""
    family = model_family(model)
    for table in (PRICES if prices is None else prices).values():
        if family in table:
            return table[family]
    return None


def cost_usd(
    model: str, usage: Usage, prices: dict[str, dict[str, Price]] | None = None
) -> float | None:
    """USD for ``usage`` on ``model``: 0 for no tokens at all, ``None`` for an unpriced model."""
    if usage.total_tokens == 0:
        return 0.0
    price = price_of(model, prices)
    if price is None:
        return None
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
    ) / 1_000_000
