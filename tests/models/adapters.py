"""What the adapter tests share: a factory of models aimed at a local stand-in, and a request.

Each test module keeps its stand-in server fixture (their types differ) and builds its
``make_model`` fixture from `model_factory`, which closes every client it made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from agentflow.messages import Message, ModelRequest, TextBlock
from agentflow.models.retries import RetryPolicy

__all__ = ["FAST_RETRY", "QUICK", "hello", "model_factory"]

FAST_RETRY = {"retry-after-ms": "10"}
"""Headers that tell the adapter to retry at once."""
QUICK = RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01)
"""Backoff short enough for tests when the server names no wait."""


class _Client(Protocol):
    async def close(self) -> None: ...


class _Adapter(Protocol):
    @property
    def client(self) -> _Client: ...


AdapterT = TypeVar("AdapterT", bound=_Adapter)


@asynccontextmanager
async def model_factory(
    build: Callable[..., AdapterT], *, base_url: str, api_key: str
) -> AsyncIterator[Callable[..., AdapterT]]:
    """``make(**options)``: ``build`` aimed at ``base_url`` with ``api_key`` and `QUICK` retries
    unless told otherwise; every client made is closed on the way out."""
    made: list[AdapterT] = []

    def make(**kwargs: Any) -> AdapterT:
        kwargs.setdefault("api_key", api_key)
        kwargs.setdefault("base_url", base_url)
        kwargs.setdefault("retry", QUICK)
        model = build(**kwargs)
        made.append(model)
        return model

    try:
        yield make
    finally:
        for model in made:
            await model.client.close()


def hello() -> ModelRequest:
    """One user message, ``hi``, under a short system prompt."""
    return ModelRequest(
        system="Be brief.", messages=(Message(role="user", content=(TextBlock(text="hi"),)),)
    )
