"""Activities: the I/O of durable conversations (model calls, tool calls, approval notices).

Business failures cross into the workflow as values (:class:`ToolCallResult`) or as
non-retryable ``ApplicationError``s; everything else is retried by the activity's policy.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

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

    def __init__(self, channel: ApprovalChannel | None = None) -> None:
        self.channel: ApprovalChannel = channel or LogChannel()

    @activity.defn(name="agentflow.model_call")
    async def model_call(self, input: ModelCallInput) -> ModelResponse:
        try:
            model = registered(input.agent).agent.model
            return await model.request(input.request)
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
        return ToolCallResult(outcome=await invoke_tool(tool, ctx, input.call))

    @activity.defn(name="agentflow.notify_approval")
    async def notify_approval(self, notice: ApprovalNotice) -> None:
        await self.channel.notify(notice)
