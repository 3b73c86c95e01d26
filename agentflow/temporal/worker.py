"""A Temporal worker that hosts agentflow's workflows and activities for some agents."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agentflow.agent import Agent
from agentflow.approvals.records import ApprovalChannel
from agentflow.approvals.signing import VOTE_KEYS_ENV, VoteKeys
from agentflow.temporal.activities import AgentActivities, DelegationLookup
from agentflow.temporal.connection import DEFAULT_TASK_QUEUE
from agentflow.temporal.registry import DepsFactory, register_agent
from agentflow.temporal.tracing import worker_tracing
from workflows.agent import AgentWorkflow
from workflows.approval import ApprovalWorkflow

log = logging.getLogger("agentflow.worker")

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "PASSTHROUGH_MODULES",
    "create_worker",
    "workflow_classes",
    "workflow_runner",
]

PASSTHROUGH_MODULES = (
    # What the workflows import, by name: deterministic, side-effect-free modules they use as-is
    # rather than re-importing them in every sandboxed run. The registry must be the worker's
    # own: it holds the agents this process registered.
    "agentflow.approvals.records",
    "agentflow.approvals.rules",
    "agentflow.binding",
    "agentflow.exceptions",
    "agentflow.loop",
    "agentflow.messages",
    "agentflow.outcomes",
    "agentflow.temporal.activities",
    "agentflow.temporal.contracts",
    "agentflow.temporal.registry",
    # The pydantic stack under our data types (the data converter builds validators in the
    # sandbox).
    "pydantic",
    "pydantic_core",
    "annotated_types",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The default sandbox, with the modules the workflows import passed through."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def workflow_classes() -> list[type[Any]]:
    return [AgentWorkflow, ApprovalWorkflow]


def create_worker(
    client: Client,
    agents: Sequence[Agent[Any]],
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    deps: Mapping[str, DepsFactory] | None = None,
    channel: ApprovalChannel | None = None,
    tracer_provider: TracerProvider | None = None,
    org: DelegationLookup | None = None,
    vote_keys: VoteKeys | None = None,
    **worker_options: Any,
) -> Worker:
    """Register ``agents`` in this process and build a worker for their conversations.

    Args:
        client: a connected Temporal client (with the pydantic data converter).
        agents: the agents whose conversations this worker runs.
        task_queue: one queue can serve several agents; run several workers on it to scale.
        deps: per agent name, a factory for the dependencies its tools receive.
        channel: where approval requests are shown (Slack, web inbox); logs by default.
        tracer_provider: record every step in the audit trail (see
            :func:`agentflow.audit.configure_tracing`). Without it, steps are recorded when the
            client carries an :class:`agentflow.audit.AuditInterceptor`.
        org: the org chart (:class:`agentflow.approvals.OrgChart`) that says who stands in for
            an approver on leave. Without it, votes cast as a delegate are refused.
        vote_keys: the keys approval desks sign votes with (default: ``AGENTFLOW_VOTE_KEYS``);
            with them, a vote no desk signed is refused. Without any, votes are not verified
            and anyone able to send Temporal updates can decide approvals (a warning says so).
        worker_options: passed to ``temporalio.worker.Worker``.
    """
    for agent in agents:
        register_agent(agent, deps=(deps or {}).get(agent.name))
    recorder, interceptors = worker_tracing(client, tracer_provider)
    if interceptors:
        worker_options["interceptors"] = [*worker_options.get("interceptors", ()), *interceptors]
    keys = vote_keys if vote_keys is not None else VoteKeys.from_env()
    if keys is None:
        log.warning(
            "%s is not set: approval votes are not verified, so anyone who can send updates "
            "to this Temporal namespace can decide approvals",
            VOTE_KEYS_ENV,
        )
    activities = AgentActivities(channel, recorder=recorder, org=org, vote_keys=keys)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflow_classes(),
        activities=[
            activities.model_call,
            activities.tool_call,
            activities.notify_approval,
            activities.check_approver,
            activities.check_edit,
            activities.verify_vote,
        ],
        workflow_runner=worker_options.pop("workflow_runner", workflow_runner()),
        **worker_options,
    )
