"""Model adapters: the protocol every model implements, and the Anthropic one."""

from agentflow.models.base import Model
from agentflow.models.anthropic import AnthropicModel

__all__ = ["AnthropicModel", "Model"]
