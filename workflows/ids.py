"""Workflow ids that clients and workflows must agree on."""


def approval_workflow_id(conversation_id: str, tool_call_id: str) -> str:
    """Deterministic, so a retried start can never create a second approval for one call."""
    return f"{conversation_id}/approval/{tool_call_id}"
