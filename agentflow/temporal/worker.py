"""A Temporal worker that hosts agentflow's workflows and activities for some agents.

[`create_worker`][agentflow.temporal.create_worker] is a convenience: a ``temporalio.worker.Worker``
with [`AgentflowPlugin`][agentflow.temporal.AgentflowPlugin], which does the assembling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import RoutingConfigUpdateState
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.worker import Worker, WorkerDeploymentConfig

from agentflow.agent import Agent
from agentflow.approvals.records import ApprovalChannel
from agentflow.approvals.signing import VoteKeys
from agentflow.exceptions import ConfigurationError
from agentflow.temporal.activities import DelegationLookup
from agentflow.temporal.connection import DEFAULT_TASK_QUEUE
from agentflow.temporal.plugin import (
    PASSTHROUGH_MODULES,
    AgentflowPlugin,
    workflow_classes,
    workflow_runner,
)
from agentflow.temporal.registry import DepsFactory
from agentflow.temporal.transcripts import (
    DEFAULT_CACHED_TRANSCRIPT_BYTES,
    DEFAULT_CACHED_TRANSCRIPTS,
)

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from agentflow.temporal.live import LiveText

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "PASSTHROUGH_MODULES",
    "create_worker",
    "make_current",
    "routed",
    "pinned_deployment",
    "worker_version",
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
    cached_transcript_bytes: int = DEFAULT_CACHED_TRANSCRIPT_BYTES,
    live_text: LiveText | None = None,
    deployment: WorkerDeploymentVersion | None = None,
    **worker_options: Any,
) -> Worker:
    """Register ``agents`` in this process and build a worker for their conversations.

    Args:
        client: a connected Temporal client (with the pydantic data converter).
        agents: the agents whose conversations this worker runs.
        task_queue: one queue can serve several agents; run several workers on it to scale.
        deps, channel, tracer_provider, org, vote_keys, cached_transcripts,
            cached_transcript_bytes, live_text: as
            [`AgentflowPlugin`][agentflow.temporal.AgentflowPlugin] takes them (the plugin the
            worker is built with).
        deployment: this worker's version (deployment name and build id): it then runs
            under Worker Versioning, each workflow pinned to the version that started it
            (see `pinned_deployment` and the deployment guide's roll-out).
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
        cached_transcript_bytes=cached_transcript_bytes,
        live_text=live_text,
    )
    if deployment is not None:
        worker_options["deployment_config"] = pinned_deployment(deployment)
    return Worker(
        client,
        task_queue=task_queue,
        workflow_runner=worker_options.pop("workflow_runner", workflow_runner()),
        plugins=[*worker_options.pop("plugins", ()), plugin],
        **worker_options,
    )


def pinned_deployment(version: WorkerDeploymentVersion) -> WorkerDeploymentConfig:
    """Worker Versioning with every workflow pinned to the version that started it.

    A pinned workflow only ever replays on the code that recorded it, so a deploy cannot break
    it: approvals drain on their old version by their expiry, and conversations move to the
    new current version between turns (they continue as new, upgrading, see ``AgentWorkflow``).
    Old versions must run until what is pinned to them has ended.
    """
    return WorkerDeploymentConfig(
        version=version,
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


def worker_version(
    deployment_name: str | None, build_id: str | None
) -> WorkerDeploymentVersion | None:
    """The worker's version from its deployment name and build id (both, or neither)."""
    if not deployment_name and not build_id:
        return None
    if not deployment_name or not build_id:
        raise ConfigurationError(
            "a versioned worker needs both a deployment name and a build id (--deployment-name "
            "and --build-id, or AGENTFLOW_DEPLOYMENT_NAME and AGENTFLOW_BUILD_ID)"
        )
    return WorkerDeploymentVersion(deployment_name=deployment_name, build_id=build_id)


async def make_current(
    client: Client, version: WorkerDeploymentVersion, *, within: float = 30.0
) -> None:
    """Make ``version`` its deployment's current version: new workflows start on it.

    What ``temporal worker deployment set-current-version`` does; Temporal knows a version once
    one of its workers has polled, so this retries until then (``within`` seconds).
    """
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace,
        deployment_name=version.deployment_name,
        build_id=version.build_id,
        identity=client.identity,
    )
    loop = asyncio.get_running_loop()
    ends = loop.time() + within
    while True:
        try:
            await client.workflow_service.set_worker_deployment_current_version(request)
            await routed(client, version.deployment_name, within=max(ends - loop.time(), 1.0))
            return
        except RPCError as exc:
            if loop.time() > ends:
                raise ConfigurationError(
                    f"{version.deployment_name} build {version.build_id} could not be made "
                    f"current: {exc.message}"
                ) from exc
        await asyncio.sleep(0.2)


async def routed(client: Client, deployment_name: str, *, within: float = 30.0) -> None:
    """Wait until a new current version of the deployment has reached its task queues.

    Temporal applies a change of current version to each task queue in the background; until
    it has, workflows may not yet see it (a conversation would move at a later turn).
    """
    request = DescribeWorkerDeploymentRequest(
        namespace=client.namespace, deployment_name=deployment_name
    )
    done = RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED
    loop = asyncio.get_running_loop()
    ends = loop.time() + within
    while True:
        described = await client.workflow_service.describe_worker_deployment(request)
        if described.worker_deployment_info.routing_config_update_state == done:
            return
        if loop.time() > ends:
            raise ConfigurationError(f"{deployment_name}: the new current version is not routed")
        await asyncio.sleep(0.1)
