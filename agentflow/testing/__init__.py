"""Test doubles that plug into agentflow's production seams: no network, no monkeypatching."""

from agentflow.testing.models import (
    FunctionModel,
    ScriptedModel,
    text_response,
    tool_call,
    tool_calls,
)

__all__ = ["FunctionModel", "ScriptedModel", "text_response", "tool_call", "tool_calls"]
