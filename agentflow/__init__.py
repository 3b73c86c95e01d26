"""agentflow: agents that take real actions safely.

The model proposes, code disposes: tools are typed, their preconditions run in code before
every call, approvals are bound to the exact call a human saw, and every step is recorded.
"""

from typing import TYPE_CHECKING, Any

from agentflow.agent import Agent, ApprovalHandler
from agentflow.binding import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalStage,
    call_digest,
    canonical_json,
)
from agentflow.context import RunContext
from agentflow.events import Event, EventHandler
from agentflow.exceptions import (
    AgentflowError,
    ApprovalError,
    ConfigurationError,
    ConversationEnded,
    InvalidInput,
    ModelError,
    ModelHTTPError,
    ModelRetry,
    ModelUnavailable,
    NotParticipant,
    OutputUnavailable,
    TemporalUnavailable,
    ToolDefinitionError,
    WorkflowPaused,
)
from agentflow.exiting import run_and_exit
from agentflow.extras import require
from agentflow.loop import AgentLoop, Limits, LoopState
from agentflow.messages import (
    ContentBlock,
    Message,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.models.base import Model
from agentflow.preconditions import (
    Allow,
    Decision,
    Deny,
    NeedsApproval,
    Precondition,
    all_of,
    any_of,
    precondition,
)
from agentflow.provenance import (
    ArgumentsProvenance,
    Provenance,
    Source,
    SourceLabels,
    ValueProvenance,
)
from agentflow.provenance_rules import from_trusted_sources, not_from_untrusted
from agentflow.result import RunResult
from agentflow.tools import Tool, tool

if TYPE_CHECKING:
    from agentflow.models.anthropic import AnthropicModel
    from agentflow.models.openai import OpenAIModel

__version__ = "0.1.0"

__all__ = [
    # agents and runs
    "Agent",
    "AgentLoop",
    "Limits",
    "LoopState",
    "RunContext",
    "RunResult",
    # tools and preconditions
    "Allow",
    "Decision",
    "Deny",
    "NeedsApproval",
    "Precondition",
    "Tool",
    "all_of",
    "any_of",
    "precondition",
    "tool",
    # provenance
    "ArgumentsProvenance",
    "Provenance",
    "Source",
    "SourceLabels",
    "ValueProvenance",
    "from_trusted_sources",
    "not_from_untrusted",
    # approvals
    "ApprovalDecision",
    "ApprovalHandler",
    "ApprovalRequest",
    "ApprovalStage",
    "call_digest",
    "canonical_json",
    # models and messages
    "AnthropicModel",
    "ContentBlock",
    "Message",
    "Model",
    "OpenAIModel",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "TextBlock",
    "ToolResultBlock",
    "ToolUseBlock",
    "Usage",
    # events
    "Event",
    "EventHandler",
    # processes that held a Temporal client
    "run_and_exit",
    # errors and signals
    "AgentflowError",
    "ApprovalError",
    "ConfigurationError",
    "InvalidInput",
    "ModelError",
    "ModelHTTPError",
    "ModelRetry",
    "ModelUnavailable",
    "ConversationEnded",
    "NotParticipant",
    "OutputUnavailable",
    "TemporalUnavailable",
    "ToolDefinitionError",
    "WorkflowPaused",
]


def __getattr__(name: str) -> Any:
    # The SDKs take seconds to import: load one only when its model is used.
    if name == "AnthropicModel":
        require("anthropic", "agentflow.AnthropicModel")
        from agentflow.models.anthropic import AnthropicModel

        return AnthropicModel
    if name == "OpenAIModel":
        require("openai", "agentflow.OpenAIModel")
        from agentflow.models.openai import OpenAIModel

        return OpenAIModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
