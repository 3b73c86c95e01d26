"""What a run cost: Anthropic's list prices per million tokens, by model family.

Prices change: the table is data, matched by the longest model-name prefix, and a model it does
not know costs ``None`` (shown as unknown) rather than a made-up zero. Offline models are free.
"""

from __future__ import annotations

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
    def per_mtok(cls, input: float, output: float) -> Price:
        # Anthropic bills a cache write at 1.25x and a cache read at 0.1x the input price.
        return cls(input=input, output=output, cache_write=input * 1.25, cache_read=input * 0.1)


CLAUDE_PRICES: dict[str, Price] = {
    "claude-opus-4-5": Price.per_mtok(5.0, 25.0),
    "claude-opus-4-1": Price.per_mtok(15.0, 75.0),
    "claude-opus-4": Price.per_mtok(15.0, 75.0),
    "claude-sonnet-5": Price.per_mtok(3.0, 15.0),
    "claude-sonnet-4": Price.per_mtok(3.0, 15.0),
    "claude-3-7-sonnet": Price.per_mtok(3.0, 15.0),
    "claude-3-5-sonnet": Price.per_mtok(3.0, 15.0),
    "claude-haiku-4-5": Price.per_mtok(1.0, 5.0),
    "claude-3-5-haiku": Price.per_mtok(0.8, 4.0),
    "claude-3-haiku": Price.per_mtok(0.25, 1.25),
}


def price_of(model: str, prices: dict[str, Price] | None = None) -> Price | None:
    """The price for ``model`` by longest matching prefix; ``None`` for an unknown Claude model."""
    table = CLAUDE_PRICES if prices is None else prices
    matches = [name for name in table if model.startswith(name)]
    if not matches:
        return None
    return table[max(matches, key=len)]


def cost_usd(model: str, usage: Usage, prices: dict[str, Price] | None = None) -> float | None:
    """USD for ``usage`` on ``model``: 0 for a model that is not Claude, ``None`` if unpriced."""
    if not model.startswith("claude"):
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
