"""A Temporal worker that hosts agentflow's workflows and activities for some agents.

:func:`create_worker` is a convenience: a ``temporalio.worker.Worker`` with
:class:`~agentflow.temporal.plugin.AgentflowPlugin`, which does the assembling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.worker import Worker

from agentflow.agent import Agent
from agentflow.approvals.records import ApprovalChannel
from agentflow.approvals.signing import VoteKeys
from agentflow.temporal.activities import DelegationLookup
from agentflow.temporal.connection import DEFAULT_TASK_QUEUE
from agentflow.temporal.plugin import (
    PASSTHROUGH_MODULES,
    AgentflowPlugin,
    workflow_classes,
    workflow_runner,
)
from agentflow.temporal.registry import DepsFactory
from agentflow.temporal.transcripts import DEFAULT_CACHED_TRANSCRIPTS

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "PASSTHROUGH_MODULES",
    "create_worker",
    "workflow_classes",
    "workflow_runner",
]


def create_worker(
    client: Client,
    agents: Sequence[Agent[Any, Any]],
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    deps: Mapping[str, DepsFactory] | None = None,
    channel: ApprovalChannel | None = None,
    tracer_provider: TracerProvider | None = None,
    org: DelegationLookup | None = None,
    vote_keys: VoteKeys | None = None,
    cached_transcripts: int = DEFAULT_CACHED_TRANSCRIPTS,
    **worker_options: Any,
) -> Worker:
    """Register ``agents`` in this process and build a worker for their conversations.

    Args:
        client: a connected Temporal client (with the pydantic data converter).
        agents: the agents whose conversations this worker runs.
        task_queue: one queue can serve several agents; run several workers on it to scale.
        deps, channel, tracer_provider, org, vote_keys, cached_transcripts: as
            :class:`AgentflowPlugin` takes them (the plugin the worker is built with).
        worker_options: passed to ``temporalio.worker.Worker`` (``plugins`` included: they
            run before agentflow's).
    """
    plugin = AgentflowPlugin(
        agents,
        deps=deps,
        channel=channel,
        tracer_provider=tracer_provider,
        org=org,
        vote_keys=vote_keys,
        cached_transcripts=cached_transcripts,
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflow_runner=worker_options.pop("workflow_runner", workflow_runner()),
        plugins=[*worker_options.pop("plugins", ()), plugin],
        **worker_options,
    )
