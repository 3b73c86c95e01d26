"""Workflow ids that clients and workflows must agree on (the format lives in the rulebook)."""

from agentflow.approvals.rules import approval_id as approval_workflow_id

__all__ = ["approval_workflow_id"]
