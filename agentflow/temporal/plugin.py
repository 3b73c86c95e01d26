"""``AgentflowPlugin``: agentflow's workflows, activities and sandbox on a Temporal worker.

A worker is assembled the way temporalio's contrib integrations assemble theirs, as a
`temporalio.plugin.SimplePlugin`: it adds the two workflows, the activities (bound to the
approval channel, the org chart, the vote keys and the audit recorder), the tracing interceptor
a worker needs of its own, and passes through the sandbox the modules the workflows import.
Being a plugin, it composes with other plugins (OpenTelemetry's, an application's) on one
worker, and a `temporalio.worker.Replayer` given it replays agentflow's workflows::

    worker = Worker(client, task_queue="agentflow", plugins=[AgentflowPlugin([agent])])

[`create_worker`][agentflow.temporal.create_worker] builds exactly that.

This module is the composition root of durable runs: the one place in ``agentflow`` that imports
``workflows`` (workflow code imports agentflow's core and contracts, never this). A wheel ships
the repository's ``workflows/`` folder as ``agentflow.workflows``, so that installing agentflow
claims no generic top-level name; a checkout imports ``workflows`` itself.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import NoOpTracer
from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.worker import Interceptor, ReplayerConfig, WorkerConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from agentflow.agent import Agent
from agentflow.approvals.records import ApprovalChannel
from agentflow.approvals.signing import VOTE_KEYS_ENV, VoteKeys
from agentflow.audit.recorder import SpanRecorder
from agentflow.temporal.activities import AgentActivities, DelegationLookup
from agentflow.temporal.registry import DepsFactory, register_agent
from agentflow.temporal.sandbox import (
    LIBRARY_MODULES,
    PASSTHROUGH_MODULES,
    WORKFLOWS_PACKAGE,
    passing_through,
    workflow_runner,
)
from agentflow.temporal.transcripts import (
    DEFAULT_CACHED_TRANSCRIPT_BYTES,
    DEFAULT_CACHED_TRANSCRIPTS,
)

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from agentflow.temporal.live import LiveText
    from workflows.agent import AgentWorkflow
    from workflows.approval import ApprovalWorkflow
else:
    AgentWorkflow = importlib.import_module(f"{WORKFLOWS_PACKAGE}.agent").AgentWorkflow
    ApprovalWorkflow = importlib.import_module(f"{WORKFLOWS_PACKAGE}.approval").ApprovalWorkflow

__all__ = [
    "LIBRARY_MODULES",
    "PASSTHROUGH_MODULES",
    "AgentflowPlugin",
    "workflow_classes",
    "workflow_runner",
]

log = logging.getLogger("agentflow.worker")


def workflow_classes() -> list[type[Any]]:
    return [AgentWorkflow, ApprovalWorkflow]


def _passing_through(runner: WorkflowRunner | None) -> WorkflowRunner:
    """The worker's runner; a sandboxed one passes agentflow through.

    Its workflows too, unless it is a `CheckingSandboxRunner` (see `workflow_runner`).
    """
    if runner is None:
        return workflow_runner()
    if isinstance(runner, SandboxedWorkflowRunner):
        return passing_through(runner)
    return runner


def worker_tracing(
    client: Client, tracer_provider: TracerProvider | None
) -> tuple[SpanRecorder, list[Interceptor]]:
    """`agentflow.temporal.tracing.worker_tracing`, importing it only where something records.

    Without a tracer provider, only an [`AuditInterceptor`][agentflow.audit.AuditInterceptor] on
    the client makes the worker record, and there is none unless its module was imported. A
    worker that records nothing so never loads OpenTelemetry's SDK and temporalio's tracing
    interceptor, which that module imports (a few MiB of every such worker's memory).
    """
    if tracer_provider is None and "agentflow.temporal.tracing" not in sys.modules:
        return SpanRecorder(NoOpTracer()), []
    from agentflow.temporal import tracing

    return tracing.worker_tracing(client, tracer_provider)


class AgentflowPlugin(SimplePlugin):
    """Hosts the conversations of ``agents`` (and every approval) on the worker it is given to.

    Args:
        agents: the agents whose conversations the worker runs; registered in this process
            when the worker (or a replayer) is built.
        deps: per agent name, a factory for the dependencies its tools receive.
        channel: where approval requests are shown (Slack, web inbox); logs by default.
        tracer_provider: record every step in the audit trail (see
            [`agentflow.audit.configure_tracing`][]). Without it, steps are recorded when the
            client carries an [`agentflow.audit.AuditInterceptor`][].
        org: the org chart ([`agentflow.approvals.OrgChart`][]) that says who stands in for
            an approver on leave. Without it, votes cast as a delegate are refused.
        vote_keys: the keys approval desks sign votes with (default: ``AGENTFLOW_VOTE_KEYS``);
            with them, a vote no desk signed is refused. Without any, votes are not verified
            and anyone able to send Temporal updates can decide approvals (a warning says so).
        cached_transcripts: how many conversations' transcripts the worker keeps for their next
            model call (see `agentflow.temporal.transcripts`); 0 asks the workflow each time.
        cached_transcript_bytes: how much content (text, tool arguments, attachments) those
            transcripts may hold together; 64 MiB by default.
        live_text: where model calls write their text as it comes, for clients to show while
            the call goes on (see `agentflow.temporal.live`); without it, clients see steps
            only. The text never enters workflow history.
    """

    def __init__(
        self,
        agents: Sequence[Agent[Any, Any]] = (),
        *,
        deps: Mapping[str, DepsFactory] | None = None,
        channel: ApprovalChannel | None = None,
        tracer_provider: TracerProvider | None = None,
        org: DelegationLookup | None = None,
        vote_keys: VoteKeys | None = None,
        cached_transcripts: int = DEFAULT_CACHED_TRANSCRIPTS,
        cached_transcript_bytes: int = DEFAULT_CACHED_TRANSCRIPT_BYTES,
        live_text: LiveText | None = None,
    ) -> None:
        self.agents = tuple(agents)
        self.live_text = live_text
        self.cached_transcripts = cached_transcripts
        self.cached_transcript_bytes = cached_transcript_bytes
        self.deps = dict(deps or {})
        self.channel = channel
        self.tracer_provider = tracer_provider
        self.org = org
        self.vote_keys = vote_keys
        # SimplePlugin types activities as bare ``Callable``s: unknown, to strict pyright.
        super().__init__(  # pyright: ignore[reportUnknownMemberType]
            "AgentflowPlugin", workflows=workflow_classes(), workflow_runner=_passing_through
        )

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        self._register_agents()
        # A Worker always sets its client; WorkerConfig declares every key optional.
        client = config["client"]  # pyright: ignore[reportTypedDictNotRequiredAccess]
        recorder, interceptors = worker_tracing(client, self.tracer_provider)
        keys = self.vote_keys if self.vote_keys is not None else VoteKeys.from_env()
        if keys is None:
            log.warning(
                "%s is not set: approval votes are not verified, so anyone who can send updates "
                "to this Temporal namespace can decide approvals",
                VOTE_KEYS_ENV,
            )
        activities = AgentActivities(
            self.channel,
            recorder=recorder,
            org=self.org,
            vote_keys=keys,
            cached_transcripts=self.cached_transcripts,
            cached_transcript_bytes=self.cached_transcript_bytes,
            live_text=self.live_text,
        )
        # What this worker adds depends on its client (whose interceptors may record already).
        hosted = SimplePlugin(
            self.name(),
            activities=[
                activities.model_call,
                activities.tool_call,
                activities.notify_approval,
                activities.check_approver,
                activities.check_edit,
                activities.verify_vote,
            ],
            interceptors=interceptors,
        )
        return super().configure_worker(hosted.configure_worker(config))

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        # Replayed workflows look their agents up as running ones do.
        self._register_agents()
        return super().configure_replayer(config)

    def _register_agents(self) -> None:
        for agent in self.agents:
            register_agent(agent, deps=self.deps.get(agent.name))
