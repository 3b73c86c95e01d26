"""The Anthropic Messages API as a [`Model`][agentflow.Model].

This module is the one seam between agentflow and the ``anthropic`` SDK: it turns our own
`agentflow.messages` into Messages API parameters and the API's answer back, and SDK
exceptions into [`ModelError`][agentflow.ModelError] subclasses. Nothing else imports the SDK.

**One retry layer, here.** The SDK client runs with ``max_retries=0`` and the adapter retries
itself, following a `RetryPolicy`. The SDK's own retries are
switched off because they obey any ``retry-after`` the server sends, however long
(``retry-after: 120`` stalls a step for two minutes per retry), because they wait silently (a
user sees nothing, where the adapter reports each wait through
`report_retry`), and because a retry layer hidden inside the
client multiplies, unseen, with the one a durable driver (a Temporal activity's retry policy)
adds on top: with a single layer, whatever
[`AnthropicModel.request`][agentflow.AnthropicModel.request] raises has been tried ``1 +
max_retries`` times, and the driver can decide knowingly whether to try again.

Retried: connection errors and timeouts; HTTP 408, 409, 429 and 5xx (529 "overloaded"
included); the same errors when a stream reports them after its 200 (an ``overloaded_error``
event). A response's ``x-should-retry: true``/``false`` header overrides that; its
``retry-after-ms``/``retry-after`` header sets the wait, capped at
`RetryPolicy.max_retry_after <agentflow.models.retries.RetryPolicy.max_retry_after>`.
An answer that cannot be read (`ModelResponseError`) is not
retried: the same request would be billed again for, most likely, the same answer.

**Long outputs are streamed.** The SDK refuses to send a non-streaming request that it expects
to outlast its 10-minute default timeout; a smaller timeout just cuts a long generation off, to
be requested and billed again. So a request whose ``max_tokens`` is above
`STREAMING_MAX_TOKENS` (or the lower limit the SDK keeps for some models) is streamed and
the stream accumulated into one message; smaller ones are plain requests.
"""

from __future__ import annotations

from agentflow.extras import require

require("anthropic", "agentflow.models.anthropic")  # a missing extra is one line naming it

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, cast

import anthropic
from anthropic import AsyncAnthropic

# The SDK's per-model limits below which it allows a non-streaming request (see
# STREAMING_MAX_TOKENS); read from the SDK so that they follow it, from a private module because
# it exports them nowhere else.
from anthropic._constants import MODEL_NONSTREAMING_TOKENS
from anthropic.lib.bedrock import AsyncAnthropicBedrock
from anthropic.lib.vertex import AsyncAnthropicVertex
from anthropic.types import (
    AssistantMessageParam,
    CacheControlEphemeralParam,
    DocumentBlockParam,
    ImageBlockParam,
    MessageParam,
    MetadataParam,
    RedactedThinkingBlockParam,
    TextBlockParam,
    ThinkingBlockParam,
    ThinkingConfigParam,
    ToolChoiceParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    UserMessageParam,
)
from pydantic import BaseModel, ConfigDict, ValidationError

from agentflow.exceptions import (
    ConfigurationError,
    ModelError,
    ModelHTTPError,
    ModelResponseError,
    ModelUnavailable,
)
from agentflow.messages import (
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    Message,
    ModelRequest,
    ModelResponse,
    RedactedThinkingBlock,
    StopReason,
    TextBlock,
    ThinkingBlock,
    ToolChoice,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.models.base import api_key as provider_api_key
from agentflow.models.base import check_model_requests_allowed, end_user_id, unreadable_response
from agentflow.models.caching import DEFAULT_PROMPT_CACHE, CacheTTL, PromptCache
from agentflow.models.deltas import deltas_wanted, report_delta
from agentflow.models.retries import (
    Failure,
    RetryPolicy,
    parse_retry_after,
    retryable_status,
    retrying,
)

__all__ = ["STREAMING_MAX_TOKENS", "AnthropicClient", "AnthropicModel"]

AnthropicClient = AsyncAnthropic | AsyncAnthropicBedrock | AsyncAnthropicVertex
"""The SDK's clients that speak the Messages API: Anthropic's own, on Bedrock, on Vertex."""

STREAMING_MAX_TOKENS = 21_333
"""The largest ``max_tokens`` sent without streaming; a larger request is streamed.

Mirrors the SDK's guard (``_calculate_nonstreaming_timeout`` in ``anthropic._base_client``): it
reckons with 128,000 output tokens an hour and refuses a non-streaming request that could run
past its 10-minute default timeout, that is one asking for more than 128,000 / 6 tokens. Models
with a lower limit in the SDK's ``MODEL_NONSTREAMING_TOKENS`` are streamed above that limit.
"""

_ApiBlock = (
    TextBlockParam
    | ToolUseBlockParam
    | ToolResultBlockParam
    | ThinkingBlockParam
    | RedactedThinkingBlockParam
    | ImageBlockParam
    | DocumentBlockParam
)

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

# An error a stream reports after its 200 carries only its type: the status the API gives the
# same error when it can still say so in the status line.
_ERROR_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class _Params(TypedDict):
    """What both ``messages.create`` and ``messages.stream`` are given."""

    model: str
    max_tokens: int
    system: list[TextBlockParam] | anthropic.Omit
    messages: list[MessageParam]
    tools: list[ToolParam] | anthropic.Omit
    tool_choice: ToolChoiceParam | anthropic.Omit
    thinking: ThinkingConfigParam | anthropic.Omit
    stop_sequences: list[str] | anthropic.Omit
    metadata: MetadataParam | anthropic.Omit


class AnthropicModel:
    """A [`Model`][agentflow.Model] backed by ``anthropic.AsyncAnthropic``.

    Args:
        model: The Claude model to call, e.g. ``"claude-sonnet-5"``.
        client: A ready SDK client; when given, ``api_key``, ``base_url`` and ``timeout`` are
            ignored and no API key check is made. Its connection pool, credentials, headers and
            timeout are used as they are, but not its retries: the adapter retries (see the
            module docstring), so a client with ``max_retries`` above 0 is called through
            ``client.with_options(max_retries=0)``.
        api_key: The API key; defaults to the ``ANTHROPIC_API_KEY`` environment variable.
        base_url: The API's base URL; when ``None`` the SDK reads ``ANTHROPIC_BASE_URL`` and
            otherwise uses ``https://api.anthropic.com``.
        retry: How failures that may pass are retried; ``RetryPolicy()`` when ``None``.
        timeout: Seconds allowed for one HTTP attempt; ``None`` keeps the SDK's default (10
            minutes, 5 seconds to connect).
        thinking_budget: Turn on extended thinking with this many tokens for it (at least
            1,024, less than the request's ``max_tokens``). The model's thinking blocks are
            kept in the transcript and sent back with the tool results that follow them, as
            the API requires; a forced ``tool_choice`` (``any`` or a tool's name) is sent as
            ``auto``, the only choice the API allows with thinking.
        cache: where the request carries prompt-cache breakpoints, and their TTL (see
            `agentflow.models.caching`): by default after the tools, after the system
            prompt and on the latest two user messages, so that each step reads the
            conversation so far from the cache. ``None`` sends no breakpoint.

    Raises:
        ConfigurationError: No ``client`` was given and no API key is available.
    """

    def __init__(
        self,
        model: str = "claude-sonnet-5",
        *,
        client: AnthropicClient | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        thinking_budget: int | None = None,
        cache: PromptCache | None = DEFAULT_PROMPT_CACHE,
    ) -> None:
        if thinking_budget is not None and thinking_budget < 1024:
            raise ConfigurationError(
                f"thinking_budget must be at least 1024, not {thinking_budget}"
            )
        self._thinking: ThinkingConfigParam | None = (
            None
            if thinking_budget is None
            else {"type": "enabled", "budget_tokens": thinking_budget}
        )
        if client is None:
            # The SDK reads ANTHROPIC_BASE_URL itself when base_url is None.
            client = AsyncAnthropic(
                api_key=provider_api_key("AnthropicModel", "ANTHROPIC_API_KEY", api_key),
                base_url=base_url,
                max_retries=0,
                timeout=anthropic.not_given if timeout is None else timeout,
            )
        self._model = model
        self._client = client
        self._calls: AnthropicClient = client
        if client.max_retries:
            # Vertex's with_options takes google-auth credentials: unknown types without them.
            self._calls = client.with_options(max_retries=0)  # pyright: ignore[reportUnknownMemberType]
        self._retry = retry or RetryPolicy()
        self._cache = cache

    @property
    def name(self) -> str:
        return self._model

    @property
    def cache(self) -> PromptCache | None:
        """Where requests carry prompt-cache breakpoints (``None``: nowhere)."""
        return self._cache

    @property
    def client(self) -> AnthropicClient:
        """The SDK client this model was given or built."""
        return self._client

    @property
    def retry(self) -> RetryPolicy:
        """How this model retries failures that may pass."""
        return self._retry

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Perform one Messages API call, retried as the module docstring says.

        Each wait before a retry is reported through
        `report_retry`.

        Raises:
            ModelHTTPError: The API answered with an error status (after the retries, if the
                status is a retryable one).
            ModelUnavailable: The API could not be reached, or did not answer in time, on any
                attempt.
            ModelResponseError: The API's answer could not be understood.
            ConfigurationError: Real model requests are blocked in this run (see
                [`block_model_requests`][agentflow.testing.block_model_requests]).
        """
        check_model_requests_allowed(self._model)
        params = _params(self._model, request, self._thinking, self._cache)
        streamed = request.max_tokens > _streaming_threshold(self._model) or deltas_wanted()

        async def attempt() -> ModelResponse:
            if streamed:
                return await self._stream(params)
            return await self._create(params)

        return await retrying(self._retry, attempt, _failure)

    async def _create(self, params: _Params) -> ModelResponse:
        raw = await self._calls.messages.with_raw_response.create(**params)
        # The SDK builds its message objects without validating them, and gives back text when
        # the body is not JSON; so read the body ourselves, and check what we use of it.
        body = await raw.read()
        try:
            message = _WireMessage.model_validate_json(body)
        except ValidationError as err:
            raise unreadable_response(err) from err
        return _model_response(message)

    async def _stream(self, params: _Params) -> ModelResponse:
        stopped = False
        async with self._calls.messages.stream(**params) as stream:
            try:
                async for event in stream:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        report_delta(event.delta.text)
                    stopped = stopped or event.type == "message_stop"
                snapshot = stream.current_message_snapshot.to_dict(warnings=False)
            except anthropic.APIError:
                raise
            except Exception as err:
                # The SDK parses and accumulates the events: what it raises on events it cannot
                # use (bad JSON, a delta for a block never started, ...) is an unreadable answer.
                detail = f"malformed stream: {type(err).__name__}"
                raise ModelResponseError(f"{detail}: {err}" if str(err) else detail) from err
        if not stopped:
            raise ModelResponseError("the stream ended before its message_stop event")
        try:
            message = _WireMessage.model_validate(snapshot)
        except ValidationError as err:
            raise unreadable_response(err) from err
        return _model_response(message)


def _streaming_threshold(model: str) -> int:
    return min(STREAMING_MAX_TOKENS, MODEL_NONSTREAMING_TOKENS.get(model, STREAMING_MAX_TOKENS))


def _params(
    model: str,
    request: ModelRequest,
    thinking: ThinkingConfigParam | None = None,
    cache: PromptCache | None = None,
) -> _Params:
    system: list[TextBlockParam] | anthropic.Omit = anthropic.omit
    if request.system:
        system = [{"type": "text", "text": request.system}]
        if cache is not None and cache.system:
            system[0]["cache_control"] = _cache_control(cache, cache.ttl)
    tools: list[ToolParam] | anthropic.Omit = anthropic.omit
    tool_choice: ToolChoiceParam | anthropic.Omit = anthropic.omit
    if request.tools:
        tools = _tools_param(request.tools)
        if cache is not None and cache.tools:
            # Tools come first in the prompt: one breakpoint after the last caches them all.
            tools[-1]["cache_control"] = _cache_control(cache, cache.ttl)
        choice = request.tool_choice
        if thinking is not None and choice != "none":
            choice = "auto"
        tool_choice = _tool_choice_param(choice)
    settings = request.settings
    if settings.temperature is not None or settings.top_p is not None:
        # API version 2026-10-21 (what the SDK sends) answers any sampling parameter with a
        # 400, even at its default; say so before a request is made and billed for nothing.
        raise ConfigurationError(
            "the Messages API takes no temperature or top_p (refused since API version "
            "2026-10-21); leave them unset in ModelSettings for AnthropicModel"
        )
    omit = anthropic.omit
    messages = [_message_param(m) for m in request.messages]
    if cache is not None:
        cache.mark_messages(cast(list[dict[str, Any]], messages))
    return _Params(
        model=model,
        max_tokens=request.max_tokens,
        system=system,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        thinking=omit if thinking is None else thinking,
        stop_sequences=list(settings.stop_sequences) or omit,
        metadata=omit if request.user is None else {"user_id": end_user_id(request.user)},
    )


def _status(err: anthropic.APIStatusError) -> int:
    if err.status_code >= 400:
        return err.status_code
    # An error event inside a stream that had answered 200.
    return _ERROR_TYPE_STATUS.get(err.type or "", 500)


def _failure(err: Exception) -> Failure | None:
    if not isinstance(err, anthropic.APIError):
        return None
    if isinstance(err, anthropic.APIConnectionError):  # timeouts included
        return Failure(_model_error(err), retryable=True)
    if not isinstance(err, anthropic.APIStatusError):
        return Failure(_model_error(err), retryable=False)
    headers = err.response.headers
    return Failure(
        _model_error(err), retryable_status(_status(err), headers), parse_retry_after(headers)
    )


def _model_error(err: anthropic.APIError) -> ModelError:
    if isinstance(err, anthropic.APIStatusError):
        return ModelHTTPError(_status(err), err.api_message or err.message, err.body)
    if isinstance(err, anthropic.APIConnectionError):
        return ModelUnavailable(
            f"could not reach the Anthropic API at {err.request.url}: {err.message}"
        )
    if isinstance(err, anthropic.APIResponseValidationError):
        # Only a client built with _strict_response_validation raises it.
        return ModelResponseError(err.message)
    return ModelError(f"Anthropic API call failed: {err.message}")


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
            result: ToolResultBlockParam = {
                "type": "tool_result",
                "tool_use_id": block.tool_use_id,
                "content": block.content,
                "is_error": block.is_error,
            }
            if block.attachments:
                # The API takes images and documents inside a tool result, after its text.
                text: list[TextBlockParam] = (
                    [{"type": "text", "text": block.content}] if block.content else []
                )
                result["content"] = [*text, *(_file_param(f) for f in block.attachments)]
            return result
        case ThinkingBlock():
            return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
        case RedactedThinkingBlock():
            return {"type": "redacted_thinking", "data": block.data}
        case ImageBlock() | DocumentBlock():
            return _file_param(block)


def _file_param(block: ImageBlock | DocumentBlock) -> ImageBlockParam | DocumentBlockParam:
    if isinstance(block, ImageBlock):
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": block.media_type, "data": block.data},
        }
    document: DocumentBlockParam = {
        "type": "document",
        "source": {"type": "base64", "media_type": block.media_type, "data": block.data},
    }
    if block.title:
        document["title"] = block.title
    return document


def _tools_param(tools: Sequence[ToolDefinition]) -> list[ToolParam]:
    return [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema}
        for t in tools
    ]


def _cache_control(cache: PromptCache, ttl: CacheTTL) -> CacheControlEphemeralParam:
    return cast(CacheControlEphemeralParam, cache.control(ttl))


def _tool_choice_param(choice: ToolChoice) -> ToolChoiceParam:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "any":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    return {"type": "tool", "name": choice}


class _Wire(BaseModel):
    """What we read of the API's answer; fields we do not use are not checked."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class _WireUsage(_Wire):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class _WireMessage(_Wire):
    id: str = ""
    model: str
    # Blocks are checked one by one (see _content): a block type newer than this adapter is
    # skipped, not refused.
    content: list[dict[str, Any]]
    stop_reason: str | None = None
    usage: _WireUsage


class _WireText(_Wire):
    text: str


class _WireThinking(_Wire):
    thinking: str
    signature: str = ""


class _WireRedacted(_Wire):
    data: str


class _WireToolUse(_Wire):
    id: str
    name: str
    input: Any


def _model_response(message: _WireMessage) -> ModelResponse:
    usage = message.usage
    return ModelResponse(
        content=_content(message.content),
        stop_reason=_STOP_REASONS.get(message.stop_reason or ""),
        usage=Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        ),
        model=message.model,
        id=message.id,
    )


def _content(blocks: Sequence[Mapping[str, Any]]) -> tuple[ContentBlock, ...]:
    content: list[ContentBlock] = []
    for index, block in enumerate(blocks):
        try:
            match block.get("type"):
                case "text":
                    content.append(TextBlock(text=_WireText.model_validate(block).text))
                case "tool_use":
                    call = _WireToolUse.model_validate(block)
                    content.append(ToolUseBlock(id=call.id, name=call.name, input=call.input))
                case "thinking":
                    thought = _WireThinking.model_validate(block)
                    content.append(
                        ThinkingBlock(thinking=thought.thinking, signature=thought.signature)
                    )
                case "redacted_thinking":
                    content.append(
                        RedactedThinkingBlock(data=_WireRedacted.model_validate(block).data)
                    )
                case _:
                    # Server tool results, ... have no counterpart in our messages.
                    pass
        except ValidationError as err:
            raise unreadable_response(err, f"content.{index}") from err
    return tuple(content)
