"""The client API every channel uses: start conversations, send messages, answer approvals.

The web app, the CLI and Slack all go through :class:`AgentClient`; none of them talks to the
workflows directly, so validation errors come back the same way everywhere.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from agentflow.exceptions import ApprovalError, InvalidInput
from agentflow.temporal.contracts import (
    AgentReply,
    AgentWorkflowInput,
    ApprovalResult,
    ApprovalStatus,
    ApprovalVote,
    DurableOptions,
    SendMessage,
    Step,
    Transcript,
    WaitForTurn,
)
from agentflow.temporal.worker import DEFAULT_TASK_QUEUE
from workflows.ids import approval_workflow_id

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

R = TypeVar("R")


class AgentClient:
    """Conversations and approvals on Temporal, for channels and tests."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = DEFAULT_TASK_QUEUE,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        if tracer_provider is not None:
            # Conversations become traces in the audit trail (see agentflow.audit).
            from agentflow.audit.temporal import traced_client

            client = traced_client(client, tracer_provider)
        self.client = client
        self.task_queue = task_queue

    async def start_conversation(
        self,
        agent: str,
        *,
        user: str | None,
        conversation_id: str | None = None,
        options: DurableOptions | None = None,
    ) -> str:
        """Start an ``AgentWorkflow``; returns the conversation id (= workflow id)."""
        conversation_id = conversation_id or f"conv-{uuid.uuid4().hex}"
        await self.client.start_workflow(
            "AgentWorkflow",
            AgentWorkflowInput(agent=agent, user=user, options=options or DurableOptions()),
            id=conversation_id,
            task_queue=self.task_queue,
        )
        return conversation_id

    async def send(self, conversation_id: str, text: str) -> AgentReply:
        """Send a message and wait for the reply (``awaiting_approval`` while one waits)."""
        try:
            return await _update(
                self._conversation(conversation_id),
                "send_message",
                SendMessage(text=text),
                AgentReply,
            )
        except WorkflowUpdateFailedError as exc:
            raise InvalidInput(_reason(exc)) from exc

    async def stream(
        self, conversation_id: str, text: str, *, poll_interval: float = 0.2
    ) -> AsyncIterator[Step | AgentReply]:
        """Send a message and yield each step as it happens, then the reply."""
        handle = self._conversation(conversation_id)
        seen = len(await handle.query("steps", 0, result_type=list[Step]))
        reply_task = asyncio.create_task(self.send(conversation_id, text))
        try:
            while True:
                done = reply_task.done()
                for step in await handle.query("steps", seen, result_type=list[Step]):
                    seen = step.index + 1
                    yield step
                if done:
                    yield reply_task.result()
                    return
                await asyncio.wait({reply_task}, timeout=poll_interval)
        finally:
            if not reply_task.done():
                reply_task.cancel()

    async def wait_for_turn(self, conversation_id: str, turn: int) -> AgentReply:
        """The final reply of ``turn``, once its approvals are decided and the agent answered."""
        return await _update(
            self._conversation(conversation_id), "wait_for_turn", WaitForTurn(turn=turn), AgentReply
        )

    async def transcript(self, conversation_id: str) -> Transcript:
        return await self._conversation(conversation_id).query("transcript", result_type=Transcript)

    async def steps(self, conversation_id: str, since: int = 0) -> list[Step]:
        return await self._conversation(conversation_id).query(
            "steps", since, result_type=list[Step]
        )

    async def pending_approvals(
        self, conversation_id: str | None = None
    ) -> list[tuple[str, ApprovalStatus]]:
        """Approvals still waiting for a decision, with their approval ids.

        For one conversation the answer is exact (asked of the conversation itself); across all
        conversations it comes from Temporal's visibility store, which may lag by a moment.
        """
        if conversation_id is not None:
            transcript = await self.transcript(conversation_id)
            ids = [
                approval_workflow_id(conversation_id, r.tool_call_id)
                for r in transcript.pending_approvals
            ]
        else:
            query = 'WorkflowType = "ApprovalWorkflow" AND ExecutionStatus = "Running"'
            ids = [
                execution.id
                async for execution in self.client.list_workflows(query)
                if execution.status == WorkflowExecutionStatus.RUNNING
            ]
        found: list[tuple[str, ApprovalStatus]] = []
        for approval_id in ids:
            status = await self.approval_status(approval_id)
            if status.state == "pending":
                found.append((approval_id, status))
        return found

    async def approval_status(self, approval_id: str) -> ApprovalStatus:
        handle = self.client.get_workflow_handle(approval_id)
        return await handle.query("status", result_type=ApprovalStatus)

    async def decide(self, approval_id: str, vote: ApprovalVote) -> ApprovalResult:
        """Approve or deny.

        Raises :class:`ApprovalError` for a decision the workflow refuses (wrong approver, other
        digest, already decided); nothing is changed then.
        """
        handle = self.client.get_workflow_handle(approval_id)
        try:
            return await _update(handle, "decide", vote, ApprovalResult)
        except WorkflowUpdateFailedError as exc:
            raise ApprovalError(_reason(exc)) from exc
        except RPCError as exc:
            # A closed approval no longer accepts updates; say why in the validator's words.
            try:
                state = (await self.approval_status(approval_id)).state
            except RPCError:
                raise ApprovalError(
                    f"approval {approval_id} cannot be decided: {exc.message}"
                ) from exc
            raise ApprovalError(f"this approval is already {state}") from exc

    def _conversation(self, conversation_id: str) -> WorkflowHandle[object, object]:
        return self.client.get_workflow_handle(conversation_id)


async def _update(handle: WorkflowHandle[Any, Any], name: str, arg: Any, result_type: type[R]) -> R:
    # One place for the untyped by-name overload (its ``args`` parameter is unknown to pyright).
    result = await handle.execute_update(name, arg, result_type=result_type)  # pyright: ignore[reportUnknownMemberType]
    return cast(R, result)


def _reason(exc: WorkflowUpdateFailedError) -> str:
    cause = exc.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
