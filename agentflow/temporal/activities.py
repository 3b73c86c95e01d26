"""Activities: the I/O of durable conversations (model calls, tool calls, approval notices).

Business failures cross into the workflow as values (:class:`ToolCallResult`) or as
non-retryable ``ApplicationError``s; everything else is retried by the activity's policy.

Each model call, tool call (with its precondition decision) and approval notice is recorded as
a span here, in the activity, where it runs once per attempt: workflow code re-runs on replay.
"""

from __future__ import annotations

from opentelemetry.trace import NoOpTracer
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agentflow.audit.recorder import SpanRecorder
from agentflow.context import RunContext
from agentflow.exceptions import ConfigurationError, ModelError, ModelHTTPError
from agentflow.execution import invoke_tool
from agentflow.messages import ModelResponse
from agentflow.temporal.channel import ApprovalChannel, LogChannel
from agentflow.temporal.contracts import (
    ApprovalNotice,
    ModelCallInput,
    ToolCallInput,
    ToolCallResult,
)
from agentflow.temporal.registry import registered


class AgentActivities:
    """The activities a worker hosts; one instance serves every registered agent."""

    def __init__(
        self, channel: ApprovalChannel | None = None, *, recorder: SpanRecorder | None = None
    ) -> None:
        self.channel: ApprovalChannel = channel or LogChannel()
        # A recorder on a no-op tracer records nothing and builds no attributes.
        self.recorder = recorder or SpanRecorder(NoOpTracer())

    @activity.defn(name="agentflow.model_call")
    async def model_call(self, input: ModelCallInput) -> ModelResponse:
        try:
            model = registered(input.agent).agent.model
            conversation_id = activity.info().workflow_id
            with self.recorder.chat(
                model, input.request, agent=input.agent, conversation_id=conversation_id
            ) as step:
                response = await model.request(input.request)
                step.responded(response)
            return response
        except ConfigurationError as exc:
            raise ApplicationError(str(exc), type="ConfigurationError", non_retryable=True) from exc
        except ModelHTTPError as exc:
            # 4xx other than rate limits will fail the same way again.
            retryable = exc.status_code in (408, 409, 429) or exc.status_code >= 500
            raise ApplicationError(
                str(exc), type="ModelHTTPError", non_retryable=not retryable
            ) from exc
        except ModelError as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__) from exc

    @activity.defn(name="agentflow.tool_call")
    async def tool_call(self, input: ToolCallInput) -> ToolCallResult:
        try:
            entry = registered(input.agent)
            tool = entry.agent.tools[input.call.name]
        except (ConfigurationError, KeyError) as exc:
            raise ApplicationError(str(exc), type="ConfigurationError", non_retryable=True) from exc
        ctx = RunContext(
            deps=entry.deps(),
            user=input.user,
            conversation_id=input.conversation_id,
            tool_call_id=input.call.id,
            messages=input.messages,
            approval=input.call.approval,
        )
        with self.recorder.tool_call(
            input.call, agent=input.agent, conversation_id=input.conversation_id
        ) as step:
            outcome = await invoke_tool(tool, ctx, input.call, emit=step.emit)
            step.finished(outcome)
        return ToolCallResult(outcome=outcome)

    @activity.defn(name="agentflow.notify_approval")
    async def notify_approval(self, notice: ApprovalNotice) -> None:
        await self.channel.notify(notice)
        # Recorded once the humans have actually been told.
        self.recorder.approval_notice(notice, since=activity.info().scheduled_time)
