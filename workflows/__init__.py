"""Temporal workflow definitions: deterministic code only (no I/O, clocks or randomness)."""

from workflows.agent import AgentWorkflow, approval_workflow_id
from workflows.approval import ApprovalWorkflow

__all__ = ["AgentWorkflow", "ApprovalWorkflow", "approval_workflow_id"]
