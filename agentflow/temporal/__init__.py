"""Durable runs on Temporal: workflows, activities and the embedded server they run against.

Names are imported on first use. Workflow code imports `agentflow.temporal.contracts` and
`agentflow.temporal.registry` inside Temporal's sandbox; importing them must not load the
client, the worker or the dev-server process manager that this package also holds.
"""

from typing import TYPE_CHECKING, Any

from agentflow.extras import require

# Workflow code imports this package inside Temporal's sandbox, where only a module lookup is
# allowed: temporalio's presence tells.
require("temporal", "agentflow.temporal", probe=("temporalio",))

if TYPE_CHECKING:
    from agentflow.temporal.channel import ApprovalChannel, LogChannel
    from agentflow.temporal.client import AgentClient
    from agentflow.temporal.connection import DEFAULT_TASK_QUEUE, TemporalConfig
    from agentflow.temporal.contracts import (
        AgentReply,
        ApprovalNotice,
        ApprovalResult,
        ApprovalStatus,
        ApprovalTimers,
        ApprovalVote,
        DurableOptions,
        Step,
        Transcript,
    )
    from agentflow.temporal.devserver import DevServer, connect
    from agentflow.temporal.live import LiveText
    from agentflow.temporal.plugin import AgentflowPlugin
    from agentflow.temporal.registry import register_agent
    from agentflow.temporal.worker import create_worker

_HOMES = {
    "TemporalConfig": "connection",
    "DEFAULT_TASK_QUEUE": "connection",
    "AgentClient": "client",
    "AgentflowPlugin": "plugin",
    "AgentReply": "contracts",
    "ApprovalChannel": "channel",
    "ApprovalNotice": "contracts",
    "ApprovalResult": "contracts",
    "ApprovalStatus": "contracts",
    "ApprovalTimers": "contracts",
    "ApprovalVote": "contracts",
    "DevServer": "devserver",
    "DurableOptions": "contracts",
    "LiveText": "live",
    "LogChannel": "channel",
    "Step": "contracts",
    "Transcript": "contracts",
    "connect": "devserver",
    "create_worker": "worker",
    "register_agent": "registry",
}


def __getattr__(name: str) -> Any:
    """Import a name's module on first use (see the module docstring for why)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "TemporalConfig",
    "DEFAULT_TASK_QUEUE",
    "AgentClient",
    "AgentflowPlugin",
    "AgentReply",
    "ApprovalChannel",
    "ApprovalNotice",
    "ApprovalResult",
    "ApprovalStatus",
    "ApprovalTimers",
    "ApprovalVote",
    "DevServer",
    "DurableOptions",
    "LiveText",
    "LogChannel",
    "Step",
    "Transcript",
    "connect",
    "create_worker",
    "register_agent",
]
