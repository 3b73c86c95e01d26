"""Model adapters: the protocol every model implements, and the Anthropic one.

``AnthropicModel`` is imported on first use: the ``anthropic`` SDK takes seconds to import, and
a program that runs on another model (or a test double) should not pay for it.
"""

from typing import TYPE_CHECKING, Any

from agentflow.models.base import Model

if TYPE_CHECKING:
    from agentflow.models.anthropic import AnthropicModel

__all__ = ["AnthropicModel", "Model"]


def __getattr__(name: str) -> Any:
    if name == "AnthropicModel":
        from agentflow.models.anthropic import AnthropicModel

        return AnthropicModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
