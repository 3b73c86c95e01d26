"""Durable runs on Temporal: workflows, activities and the embedded server they run against."""

from agentflow.temporal.channel import ApprovalChannel, LogChannel
from agentflow.temporal.client import AgentClient
from agentflow.temporal.connection import TemporalConfig
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
from agentflow.temporal.registry import register_agent
from agentflow.temporal.worker import DEFAULT_TASK_QUEUE, create_worker

__all__ = [
    "TemporalConfig",
    "DEFAULT_TASK_QUEUE",
    "AgentClient",
    "AgentReply",
    "ApprovalChannel",
    "ApprovalNotice",
    "ApprovalResult",
    "ApprovalStatus",
    "ApprovalTimers",
    "ApprovalVote",
    "DevServer",
    "DurableOptions",
    "LogChannel",
    "Step",
    "Transcript",
    "connect",
    "create_worker",
    "register_agent",
]
