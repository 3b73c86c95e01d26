"""The Anthropic Messages API as a :class:`~agentflow.models.base.Model`.

This module is the one seam between agentflow and the ``anthropic`` SDK: it turns our own
:mod:`agentflow.messages` into Messages API parameters and the API's answer back, and SDK
exceptions into :class:`~agentflow.exceptions.ModelError` subclasses. Nothing else imports the SDK.

Retries are left to the SDK's client, which already retries connection errors, timeouts and HTTP
408/409/429/5xx (529 "overloaded" included) with exponential backoff and jitter, honouring the
server's ``retry-after``/``retry-after-ms`` headers. Hand-written retries on top would multiply
with those; so whatever this adapter raises has already been retried ``max_retries`` times.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import anthropic
from anthropic import AsyncAnthropic
from anthropic.types import (
    AssistantMessageParam,
    CacheControlEphemeralParam,
    MessageParam,
    TextBlockParam,
    ToolChoiceParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    UserMessageParam,
)
from anthropic.types import Message as APIMessage
from anthropic.types import TextBlock as APITextBlock
from anthropic.types import ToolUseBlock as APIToolUseBlock

from agentflow.exceptions import ConfigurationError, ModelError, ModelHTTPError, ModelUnavailable
from agentflow.messages import (
    ContentBlock,
    Message,
    ModelRequest,
    ModelResponse,
    StopReason,
    TextBlock,
    ToolChoice,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

__all__ = ["AnthropicModel"]

_EPHEMERAL: CacheControlEphemeralParam = {"type": "ephemeral"}

_ApiBlock = TextBlockParam | ToolUseBlockParam | ToolResultBlockParam

# The API's stop reasons, as ours. A response cut off by the context window is, to the loop,
# the same as one cut off by ``max_tokens``; anything newer than this table maps to ``None``.
_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    "model_context_window_exceeded": "max_tokens",
}


class AnthropicModel:
    """A :class:`~agentflow.models.base.Model` backed by ``anthropic.AsyncAnthropic``.

    Args:
        model: The Claude model to call, e.g. ``"claude-sonnet-5"``.
        client: A ready SDK client; when given, ``api_key``, ``base_url``, ``max_retries`` and
            ``timeout`` are ignored and no API key check is made.
        api_key: The API key; defaults to the ``ANTHROPIC_API_KEY`` environment variable.
        base_url: The API's base URL; when ``None`` the SDK reads ``ANTHROPIC_BASE_URL`` and
            otherwise uses ``https://api.anthropic.com``.
        max_retries: How many times the SDK retries a retryable failure before giving up.
        timeout: Seconds allowed for one HTTP attempt.

    Raises:
        ConfigurationError: No ``client`` was given and no API key is available.
    """

    def __init__(
        self,
        model: str = "claude-sonnet-5",
        *,
        client: AsyncAnthropic | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = 4,
        timeout: float = 60.0,
    ) -> None:
        if client is None:
            key = api_key or os.environ.get("ANTHROPIC_API_KEY")
            if not key:
                raise ConfigurationError(
                    "AnthropicModel needs an API key: set the ANTHROPIC_API_KEY environment "
                    "variable or pass api_key=..."
                )
            # The SDK does the retrying (see the module docstring) and reads ANTHROPIC_BASE_URL
            # itself when base_url is None.
            client = AsyncAnthropic(
                api_key=key, base_url=base_url, max_retries=max_retries, timeout=timeout
            )
        self._model = model
        self._client = client

    @property
    def name(self) -> str:
        return self._model

    @property
    def client(self) -> AsyncAnthropic:
        """The SDK client this model calls."""
        return self._client

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Perform one Messages API call.

        Raises:
            ModelHTTPError: The API answered with an error status (after the SDK's retries, if
                the status is a retryable one).
            ModelUnavailable: The API could not be reached, or did not answer in time, on any
                attempt.
            ModelError: The API's answer could not be understood.
        """
        system: list[TextBlockParam] | anthropic.Omit = anthropic.omit
        if request.system:
            system = [{"type": "text", "text": request.system, "cache_control": _EPHEMERAL}]
        tools: list[ToolParam] | anthropic.Omit = anthropic.omit
        tool_choice: ToolChoiceParam | anthropic.Omit = anthropic.omit
        if request.tools:
            tools = _tools_param(request.tools)
            tool_choice = _tool_choice_param(request.tool_choice)
        try:
            message = await self._client.messages.create(
                model=self._model,
                max_tokens=request.max_tokens,
                system=system,
                messages=[_message_param(m) for m in request.messages],
                tools=tools,
                tool_choice=tool_choice,
            )
        except anthropic.APIStatusError as err:
            raise ModelHTTPError(err.status_code, err.api_message or err.message, err.body) from err
        except anthropic.APIConnectionError as err:
            raise ModelUnavailable(
                f"could not reach the Anthropic API at {err.request.url}: {err.message}"
            ) from err
        except anthropic.APIError as err:
            raise ModelError(f"Anthropic API call failed: {err.message}") from err
        return _model_response(message)


def _message_param(message: Message) -> MessageParam:
    content = [_block_param(block) for block in message.content]
    if message.role == "user":
        return UserMessageParam(role="user", content=content)
    return AssistantMessageParam(role="assistant", content=content)


def _block_param(block: ContentBlock) -> _ApiBlock:
    match block:
        case TextBlock():
            return {"type": "text", "text": block.text}
        case ToolUseBlock():
            return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
        case ToolResultBlock():
            return {
                "type": "tool_result",
                "tool_use_id": block.tool_use_id,
                "content": block.content,
                "is_error": block.is_error,
            }


def _tools_param(tools: Sequence[ToolDefinition]) -> list[ToolParam]:
    params: list[ToolParam] = [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema}
        for t in tools
    ]
    # One cache breakpoint after the last tool caches every tool definition (tools come first
    # in the prompt, then the system block, which carries its own breakpoint).
    params[-1]["cache_control"] = _EPHEMERAL
    return params


def _tool_choice_param(choice: ToolChoice) -> ToolChoiceParam:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "any":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    return {"type": "tool", "name": choice}


def _model_response(message: APIMessage) -> ModelResponse:
    content: list[ContentBlock] = []
    for block in message.content:
        if isinstance(block, APITextBlock):
            content.append(TextBlock(text=block.text))
        elif isinstance(block, APIToolUseBlock):
            content.append(ToolUseBlock(id=block.id, name=block.name, input=block.input))
        # Other blocks (thinking, server tool results, ...) have no counterpart in our messages.
    usage = message.usage
    return ModelResponse(
        content=tuple(content),
        stop_reason=_STOP_REASONS.get(message.stop_reason or ""),
        usage=Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        ),
        model=message.model,
    )
