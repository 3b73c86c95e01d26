"""Temporal workflow definitions: deterministic code only (no I/O, clocks or randomness)."""

from workflows.agent import AgentWorkflow
from workflows.approval import ApprovalWorkflow
from workflows.ids import approval_workflow_id

__all__ = ["AgentWorkflow", "ApprovalWorkflow", "approval_workflow_id"]
