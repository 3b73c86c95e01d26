"""Model adapters: the protocol every model implements, the providers, and models by name.

``AnthropicModel`` and ``OpenAIModel`` are imported on first use: each SDK takes a while to
import, and a program that runs on another model (or a test double) should not pay for it.
"""

from typing import TYPE_CHECKING, Any

from agentflow.models.base import Model
from agentflow.models.caching import PromptCache
from agentflow.models.fallback import FallbackModel
from agentflow.models.names import infer_model

if TYPE_CHECKING:
    from agentflow.models.anthropic import AnthropicModel
    from agentflow.models.openai import OpenAIModel
    from agentflow.models.openai_responses import OpenAIResponsesModel

__all__ = [
    "AnthropicModel",
    "FallbackModel",
    "Model",
    "OpenAIModel",
    "OpenAIResponsesModel",
    "PromptCache",
    "infer_model",
]


def __getattr__(name: str) -> Any:
    if name == "AnthropicModel":
        from agentflow.models.anthropic import AnthropicModel

        return AnthropicModel
    if name == "OpenAIModel":
        from agentflow.models.openai import OpenAIModel

        return OpenAIModel
    if name == "OpenAIResponsesModel":
        from agentflow.models.openai_responses import OpenAIResponsesModel

        return OpenAIResponsesModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
