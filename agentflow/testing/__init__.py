"""Test doubles that plug into agentflow's production seams: no network, no monkeypatching.

- [`TestModel`][agentflow.testing.TestModel]: calls your agent's tools with arguments from their
  schemas, then answers;
- [`FunctionModel`][agentflow.testing.FunctionModel] /
  [`ScriptedModel`][agentflow.testing.ScriptedModel]: every answer computed, or replayed in order;
- [`block_model_requests`][agentflow.testing.block_model_requests]: within it, any request to a real
  model fails at once.
"""

from agentflow.models.base import block_model_requests
from agentflow.testing.models import (
    FunctionModel,
    ScriptedModel,
    text_response,
    tool_call,
    tool_calls,
)
from agentflow.testing.schema_model import TestModel, example_arguments

__all__ = [
    "FunctionModel",
    "ScriptedModel",
    "TestModel",
    "block_model_requests",
    "example_arguments",
    "text_response",
    "tool_call",
    "tool_calls",
]
