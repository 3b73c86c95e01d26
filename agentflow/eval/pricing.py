"""What a run cost: list prices per million tokens, by provider and model family.

Prices change: the table is data, each provider's with the date its prices were read
(`PRICES_AS_OF`). A model id is reduced to its family before the lookup: a provider
prefix (``anthropic:``, ``openai:``), a Bedrock id's region and vendor (``us.anthropic.``) and
version (``-v1:0``), a date (``-20250929``, ``@20250929``, ``-2024-08-06``) and ``-latest`` are
dropped, and the rest must name a family exactly. A prefix match would price an unknown newer
model (``claude-opus-4-7``) at an older family's rate (``claude-opus-4``); an unknown family
costs ``None``, shown as unknown, never a made-up zero. A run that used no tokens (an offline
model) costs nothing whatever its name.

A price can depend on the request: Claude Haiku 5.5 bills every token of a request whose prompt
(input, cache reads and cache writes) is above 100,000 tokens at a higher rate, so costs are
added up request by request (`cost_usd` on one response's usage), never on a run's total.
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
    long_prompt: tuple[int, Price] | None = None
    """Above this many prompt tokens in one request, every token of it is billed at this price."""

    @classmethod
    def anthropic(cls, input: float, output: float, *, cache_read: float | None = None) -> Price:
        # A 5-minute cache write is billed at 1.25x the input price; a cache read at 0.1x unless
        # the pricing page names its own rate (0.05x on the 5.5 models).
        return cls(
            input=input,
            output=output,
            cache_write=input * 1.25,
            cache_read=input * 0.1 if cache_read is None else cache_read,
        )

    def for_prompt(self, prompt_tokens: int) -> Price:
        """The price that applies to one request with ``prompt_tokens`` of prompt."""
        if self.long_prompt is not None and prompt_tokens > self.long_prompt[0]:
            return self.long_prompt[1]
        return self

    @classmethod
    def openai(cls, input: float, output: float, cached: float) -> Price:
        # OpenAI caches without a write charge; cached input has its own price.
        return cls(input=input, output=output, cache_write=input, cache_read=cached)


PRICES_AS_OF = {"anthropic": "2026-12-06", "openai": "2026-12-06"}
"""When each provider's list prices below were read.

Sources: platform.claude.com/docs/en/about-claude/pricing and the models' overview pages;
developers.openai.com/api/docs/pricing.
"""

_HAIKU_5_5 = Price(
    input=0.10,
    output=0.50,
    cache_write=0.125,
    cache_read=0.01,
    long_prompt=(
        100_000,
        Price(input=0.50, output=2.50, cache_write=0.625, cache_read=0.05),
    ),
)

PRICES: dict[str, dict[str, Price]] = {
    "anthropic": {
        "claude-fable-5-1": Price.anthropic(10.0, 50.0, cache_read=0.25),
        "claude-fable-5": Price.anthropic(10.0, 50.0, cache_read=1.0),
        "claude-opus-5-5": Price.anthropic(4.0, 20.0, cache_read=0.20),
        "claude-opus-5": Price.anthropic(5.0, 25.0),
        "claude-opus-4-8": Price.anthropic(5.0, 25.0),
        "claude-opus-4-7": Price.anthropic(5.0, 25.0),
        "claude-opus-4-6": Price.anthropic(5.0, 25.0),
        "claude-opus-4-5": Price.anthropic(5.0, 25.0),
        "claude-opus-4-1": Price.anthropic(15.0, 75.0),
        "claude-opus-4": Price.anthropic(15.0, 75.0),
        # Sonnet 5.5's cache reads were cut from 0.20 to 0.10 on 2026-10-07.
        "claude-sonnet-5-5": Price.anthropic(2.0, 10.0, cache_read=0.10),
        "claude-sonnet-5": Price.anthropic(2.0, 10.0),
        "claude-sonnet-4-6": Price.anthropic(3.0, 15.0),
        "claude-sonnet-4-5": Price.anthropic(3.0, 15.0),
        "claude-sonnet-4": Price.anthropic(3.0, 15.0),
        "claude-3-7-sonnet": Price.anthropic(3.0, 15.0),
        "claude-3-5-sonnet": Price.anthropic(3.0, 15.0),
        "claude-haiku-5-5": _HAIKU_5_5,
        "claude-haiku-4-5": Price.anthropic(1.0, 5.0),
        "claude-3-5-haiku": Price.anthropic(0.8, 4.0),
        # Haiku 3's cache prices are its own, not the usual multiples.
        "claude-3-haiku": Price(input=0.25, output=1.25, cache_write=0.30, cache_read=0.03),
    },
    "openai": {
        "gpt-5.5": Price.openai(5.0, 30.0, 0.50),
        "gpt-5.4": Price.openai(2.5, 15.0, 0.25),
        "gpt-5.4-mini": Price.openai(0.75, 4.5, 0.075),
        "gpt-5.4-nano": Price.openai(0.20, 1.25, 0.02),
        "gpt-5.1": Price.openai(1.25, 10.0, 0.125),
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
    """USD for one request's ``usage`` on ``model``: 0 for no tokens, ``None`` when unpriced."""
    if usage.total_tokens == 0:
        return 0.0
    listed = price_of(model, prices)
    if listed is None:
        return None
    price = listed.for_prompt(
        usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    )
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
    ) / 1_000_000
