"""Workflows whose task keeps failing: paused, not lost, and visible as such.

When a deploy ships workflow code that no longer replays a running conversation's history
(a non-determinism error), Temporal keeps the workflow and retries its task for ever: nothing
is lost, and the workflow moves on once a worker with code that replays it (the previous
build, or a fix) picks it up. Meanwhile every query and update to it fails with
"Workflow Task in failed state", and the worker looks healthy.

This module names that state: `paused_error` turns Temporal's refusal into a
[`WorkflowPaused`][agentflow.WorkflowPaused] that callers show as one line, and
`stuck_workflows` lists the workflows of a task queue whose task is failing, with the
first line of the failure, for ``agentflow doctor``.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

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


TAIL_PAGE = 16
"""Events read per page from the end of a history: a workflow task's outcome is among the last
few events of any history that is not failing; a failing task's is the last one recorded."""


@dataclass(frozen=True, kw_only=True)
class TaskOutcome:
    """How a workflow's latest workflow task ended, read from the tail of its history."""

    failure: str | None
    """The first line of its failure, or ``None`` when it completed (or none ran yet)."""
    events_read: int
    """How many events it took to find out: a page, however long the history."""


async def last_task_outcome(client: Client, workflow_id: str) -> TaskOutcome:
    """How the workflow's latest workflow task ended, read backwards from its newest event.

    Temporal writes a task's first failure to history and keeps its retries out of it until
    one succeeds: a history whose last workflow-task event is a failure is failing now. Reading
    from the end finds that event in the first page, so the check costs the same for a
    conversation of three turns or three thousand.
    """
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id),
        maximum_page_size=TAIL_PAGE,
    )
    read = 0
    while True:
        try:
            page = await client.workflow_service.get_workflow_execution_history_reverse(request)
        except RPCError as exc:
            if exc.status != RPCStatusCode.UNIMPLEMENTED:
                raise
            return await _first_to_last(client, workflow_id)  # the time-skipping test server
        for event in page.history.events:
            read += 1
            outcome = _task_outcome(event)
            if outcome is not None:
                return TaskOutcome(failure=outcome or None, events_read=read)
        if not page.next_page_token:
            return TaskOutcome(failure=None, events_read=read)
        request.next_page_token = page.next_page_token


async def _first_to_last(client: Client, workflow_id: str) -> TaskOutcome:
    """The same, read from the first event, for a server without the reverse read."""
    failure: str | None = None
    read = 0
    handle = client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events(skip_archival=True):
        read += 1
        outcome = _task_outcome(event)
        if outcome is not None:
            failure = outcome or None
    return TaskOutcome(failure=failure, events_read=read)


def _task_outcome(event: HistoryEvent) -> str | None:
    """A failed task's first line, ``""`` for a completed task, ``None`` for other events."""
    if event.HasField("workflow_task_failed_event_attributes"):
        message = event.workflow_task_failed_event_attributes.failure.message
        return (message.strip().splitlines() or ["the workflow task fails"])[0]
    if event.HasField("workflow_task_completed_event_attributes"):
        return ""
    return None


async def stuck_workflow(client: Client, workflow_id: str) -> StuckWorkflow | None:
    """The workflow's failing task, or ``None`` when its task is not failing.

    Reads the tail of its history (`last_task_outcome`) and, only when the task is
    failing, its description, whose pending task counts the attempts when one is scheduled.
    """
    outcome = await last_task_outcome(client, workflow_id)
    if outcome.failure is None:
        return None
    description = await client.get_workflow_handle(workflow_id).describe()
    return StuckWorkflow(
        workflow_id=workflow_id,
        workflow_type=description.workflow_type,
        attempts=max(description.raw_description.pending_workflow_task.attempt, 1),
        reason=outcome.failure,
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
