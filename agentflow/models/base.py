"""The one seam between the loop and a language model."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from agentflow.messages import ModelRequest, ModelResponse


@runtime_checkable
class Model(Protocol):
    """Anything that turns a :class:`ModelRequest` into a :class:`ModelResponse`.

    Implementations raise :class:`agentflow.ModelError` (or a subclass) for failures they have
    already retried; the driver turns that into a clear message for the user.
    """

    @property
    def name(self) -> str: ...

    async def request(self, request: ModelRequest) -> ModelResponse: ...
