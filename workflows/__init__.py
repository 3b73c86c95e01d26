"""Temporal workflow definitions: deterministic code only (no I/O, clocks or randomness).

Names are imported on first use: the sandbox loads each workflow module on its own, and a
client that needs only `approval_workflow_id` should not load both workflows for it.
"""

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agent import AgentWorkflow
    from .approval import ApprovalWorkflow
    from .ids import approval_workflow_id

_HOMES = MappingProxyType(
    {
        "AgentWorkflow": "agent",
        "ApprovalWorkflow": "approval",
        "approval_workflow_id": "ids",
    }
)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = ["AgentWorkflow", "ApprovalWorkflow", "approval_workflow_id"]
