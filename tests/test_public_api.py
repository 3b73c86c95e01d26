"""The public namespace is a promise: changing it must be deliberate."""

import subprocess
import sys

import agentflow


def test_public_names_are_pinned() -> None:
    assert sorted(agentflow.__all__) == sorted(
        [
            "Agent",
            "AgentLoop",
            "Limits",
            "LoopState",
            "RunContext",
            "RunResult",
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
            "ArgumentsProvenance",
            "Provenance",
            "Source",
            "SourceLabels",
            "ValueProvenance",
            "from_trusted_sources",
            "not_from_untrusted",
            "ApprovalDecision",
            "ApprovalHandler",
            "ApprovalRequest",
            "ApprovalStage",
            "call_digest",
            "canonical_json",
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
            "Event",
            "EventHandler",
            "run_and_exit",
            "AgentflowError",
            "ApprovalError",
            "ConfigurationError",
            "InvalidInput",
            "ModelError",
            "ModelHTTPError",
            "ModelRetry",
            "ModelUnavailable",
            "ConversationEnded",
            "OutputUnavailable",
            "NotParticipant",
            "TemporalUnavailable",
            "ToolDefinitionError",
            "WorkflowPaused",
        ]
    )
    for name in agentflow.__all__:
        assert getattr(agentflow, name) is not None


def test_importing_agentflow_does_not_import_heavy_sdks() -> None:
    heavy = "{'anthropic', 'openai', 'temporalio'}"
    code = f"import sys, agentflow; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
