"""Workflows whose task keeps failing: paused, not lost, and visible as such.

When a deploy ships workflow code that no longer replays a running conversation's history
(a non-determinism error), Temporal keeps the workflow and retries its task for ever: nothing
is lost, and the workflow moves on once a worker with code that replays it (the previous
build, or a fix) picks it up. Meanwhile every query and update to it fails with
"Workflow Task in failed state", and the worker looks healthy.

This module names that state: :func:`paused_error` turns Temporal's refusal into a
:class:`~agentflow.exceptions.WorkflowPaused` that callers show as one line, and
:func:`stuck_workflows` lists the workflows of a task queue whose task is failing, with the
first line of the failure, for ``agentflow doctor``.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client
from temporalio.service import RPCError

from agentflow.approvals.rules import APPROVAL_SEPARATOR, conversation_of
from agentflow.exceptions import WorkflowPaused

FAILED_TASK = "Workflow Task in failed state"
"""What Temporal answers a query or update to a workflow whose task keeps failing."""

RESUMES = (
    "it resumes by itself once a worker whose code replays it serves it again "
    "(roll back the deploy, or see `agentflow doctor`)"
)


def paused_error(exc: RPCError, workflow_id: str) -> WorkflowPaused | None:
    """The one-line error for a refusal caused by a failing workflow task, else ``None``."""
    if FAILED_TASK not in exc.message:
        return None
    if APPROVAL_SEPARATOR in workflow_id:
        what = f"the approval {workflow_id}"
    else:
        what = f"the conversation {conversation_of(workflow_id)}"
    return WorkflowPaused(f"{what} is paused by an upgrade: nothing is lost, and {RESUMES}")


@dataclass(frozen=True, kw_only=True)
class StuckWorkflow:
    """A workflow whose task is failing: its first failure is in history, retries follow."""

    workflow_id: str
    workflow_type: str
    attempts: int
    reason: str
    """The first line of the last failure (``[TMPRL1100] Nondeterminism error: ...``)."""


async def stuck_workflow(client: Client, workflow_id: str) -> StuckWorkflow | None:
    """The workflow's failing task, or ``None`` when its task is not failing.

    Temporal writes a task's first failure to history and keeps its retries out of it until
    one succeeds: a history whose last workflow-task event is a failure is failing now (the
    description's pending task counts the attempts, when one is scheduled).
    """
    handle = client.get_workflow_handle(workflow_id)
    failure: str | None = None
    async for event in handle.fetch_history_events(skip_archival=True):
        if event.HasField("workflow_task_failed_event_attributes"):
            message = event.workflow_task_failed_event_attributes.failure.message
            failure = (message.strip().splitlines() or ["the workflow task fails"])[0]
        elif event.HasField("workflow_task_completed_event_attributes"):
            failure = None
    if failure is None:
        return None
    description = await handle.describe()
    return StuckWorkflow(
        workflow_id=workflow_id,
        workflow_type=description.workflow_type,
        attempts=max(description.raw_description.pending_workflow_task.attempt, 1),
        reason=failure,
    )


async def stuck_workflows(
    client: Client, task_queue: str, limit: int = 1000
) -> list[StuckWorkflow]:
    """The running conversations and approvals of ``task_queue`` whose task keeps failing."""
    query = (
        'WorkflowType IN ("AgentWorkflow", "ApprovalWorkflow") AND ExecutionStatus = "Running" '
        f'AND TaskQueue = "{task_queue}"'
    )
    found: list[StuckWorkflow] = []
    async for execution in client.list_workflows(query, limit=limit):
        try:
            stuck = await stuck_workflow(client, execution.id)
        except RPCError:
            continue  # closed meanwhile
        if stuck is not None:
            found.append(stuck)
    return found
