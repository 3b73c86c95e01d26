"""The OpenAI Chat Completions API as a [`Model`][agentflow.Model].

This module is the one seam between agentflow and the ``openai`` SDK. Chat Completions is the
API that OpenAI-compatible gateways and servers (vLLM, Ollama, LiteLLM, OpenRouter, Azure) speak
too, so ``base_url`` points the same adapter at any of them.

It follows [`AnthropicModel`][agentflow.AnthropicModel] rule for rule: the SDK's own
retries are off and the adapter retries in `retrying` (same
statuses, same ``x-should-retry`` and ``retry-after`` handling, each wait reported); the answer
is read from the response body and checked, and an unreadable one is not retried; a request is
streamed when a driver listens for text (`agentflow.models.deltas`).

How our messages map onto the API: the system prompt is a ``system`` message; a user turn's
tool results become ``tool`` messages (in order, before any text of the same turn); an assistant
turn's tool calls become ``tool_calls`` with JSON-encoded arguments. Arguments that are not a
JSON object come back to the loop as they are, which answers them as malformed. ``tool_choice``
``any`` is the API's ``required``. Sampling settings are sent as ``temperature``, ``top_p`` and
``stop`` (at most four), the end user as an opaque ``safety_identifier``. A ``tool`` message
holds text only: images and PDFs a tool returned are sent in a user message right after the
turn's tool messages, each introduced by its call's id, and the tool message says so. Cached
prompt tokens (``prompt_tokens_details``) are counted as cache reads, the rest as input.
"""

from __future__ import annotations

from agentflow.extras import require

require("openai", "agentflow.models.openai")  # a missing extra is one line naming it

import json
from collections.abc import Sequence
from typing import Any, cast

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel, ConfigDict, ValidationError

from agentflow.exceptions import (
    ConfigurationError,
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
    StopReason,
    TextBlock,
    ToolChoice,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.models.base import api_key as provider_api_key
from agentflow.models.base import check_model_requests_allowed, end_user_id, unreadable_response
from agentflow.models.deltas import deltas_wanted, report_delta
from agentflow.models.retries import (
    Failure,
    RetryPolicy,
    parse_retry_after,
    retryable_status,
    retrying,
)

__all__ = ["OpenAIModel"]

_STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}


class OpenAIClientModel:
    """What both OpenAI adapters share: the model name, the SDK client, one retry layer."""

    def __init__(
        self,
        model: str,
        *,
        client: AsyncOpenAI | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        self._model = model
        self._client = client or openai_client(type(self).__name__, api_key, base_url, timeout)
        self._calls = calls_without_retries(self._client)
        self._retry = retry or RetryPolicy()

    @property
    def name(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        """The GenAI provider, as the audit trail names it (``gen_ai.provider.name``)."""
        return "openai"

    @property
    def client(self) -> AsyncOpenAI:
        """The SDK client this model was given or built."""
        return self._client


class OpenAIModel(OpenAIClientModel):
    """A [`Model`][agentflow.Model] backed by ``openai.AsyncOpenAI`` (Chat Completions).

    Args:
        model: The model to call, e.g. ``"gpt-5"`` (or whatever name a gateway serves).
        client: A ready SDK client; when given, ``api_key``, ``base_url`` and ``timeout`` are
            ignored. Its retries are not used (see the module docstring).
        api_key: The API key; defaults to the ``OPENAI_API_KEY`` environment variable.
        base_url: The API's base URL (``.../v1``); when ``None`` the SDK reads
            ``OPENAI_BASE_URL`` and otherwise uses ``https://api.openai.com/v1``.
        retry: How failures that may pass are retried; ``RetryPolicy()`` when ``None``.
        timeout: Seconds allowed for one HTTP attempt; ``None`` keeps the SDK's default.

    Raises:
        ConfigurationError: No ``client`` was given and no API key is available.
    """

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Perform one Chat Completions call, retried as the module docstring says.

        Raises:
            ModelHTTPError: The API answered with an error status (after the retries).
            ModelUnavailable: The API could not be reached, or did not answer in time.
            ModelResponseError: The API's answer could not be understood.
            ConfigurationError: Real model requests are blocked in this run.
        """
        check_model_requests_allowed(self._model)
        params = _params(self._model, request)
        streamed = deltas_wanted()

        async def attempt() -> ModelResponse:
            return await (self._stream(params) if streamed else self._create(params))

        return await retrying(self._retry, attempt, _failure)

    async def _create(self, params: dict[str, Any]) -> ModelResponse:
        raw = await self._calls.chat.completions.with_raw_response.create(**params, stream=False)
        body = raw.content  # the legacy raw response has read the body already
        try:
            completion = _WireCompletion.model_validate_json(body)
        except ValidationError as err:
            raise unreadable_response(err) from err
        if not completion.choices:
            raise ModelResponseError("choices: the completion has no choice")
        choice = completion.choices[0]
        return _response(
            completion.id,
            completion.model,
            choice.message.content,
            choice.message.refusal,
            [
                (c.id, c.function.name, c.function.arguments)
                for c in choice.message.tool_calls or []
            ],
            choice.finish_reason,
            completion.usage,
        )

    async def _stream(self, params: dict[str, Any]) -> ModelResponse:
        stream = await self._calls.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True}
        )
        response_id, model, finish = "", "", None
        text: list[str] = []
        refusal: list[str] = []
        calls: dict[int, list[str]] = {}
        usage: _WireUsage | None = None
        try:
            async with stream:
                async for event in stream:
                    chunk = _WireChunk.model_validate(event.to_dict())
                    response_id = chunk.id or response_id
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    for choice in chunk.choices[:1]:
                        delta = choice.delta
                        if delta.content:
                            text.append(delta.content)
                            report_delta(delta.content)
                        if delta.refusal:
                            refusal.append(delta.refusal)
                        for call in delta.tool_calls or []:
                            entry = calls.setdefault(call.index, ["", "", ""])
                            function = call.function
                            entry[0] = call.id or entry[0]
                            entry[1] += (function.name or "") if function else ""
                            entry[2] += (function.arguments or "") if function else ""
                        finish = choice.finish_reason or finish
        except ValidationError as err:
            raise unreadable_response(err, "chunk") from err
        if finish is None:
            raise ModelResponseError("the stream ended without a finish reason")
        return _response(
            response_id,
            model,
            "".join(text),
            "".join(refusal) or None,
            [(calls[i][0], calls[i][1], calls[i][2]) for i in sorted(calls)],
            finish,
            usage,
        )


def openai_client(
    owner: str, api_key: str | None, base_url: str | None, timeout: float | None
) -> AsyncOpenAI:
    """The SDK client an OpenAI adapter builds when it is given none (its retries off).

    Raises:
        ConfigurationError: No API key is given and ``OPENAI_API_KEY`` is unset.
    """
    return AsyncOpenAI(
        api_key=provider_api_key(owner, "OPENAI_API_KEY", api_key),
        base_url=base_url,
        max_retries=0,
        timeout=openai.not_given if timeout is None else timeout,
    )


def calls_without_retries(client: AsyncOpenAI) -> AsyncOpenAI:
    """``client`` as the adapters call it: without the SDK's retries (they retry themselves)."""
    return client.with_options(max_retries=0) if client.max_retries else client


def _params(model: str, request: ModelRequest) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        messages.extend(_message_params(message))
    params: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_completion_tokens": request.max_tokens,
    }
    if request.tools:
        params["tools"] = [_tool_param(t) for t in request.tools]
        params["tool_choice"] = _tool_choice_param(request.tool_choice)
    settings = request.settings
    if settings.temperature is not None:
        params["temperature"] = settings.temperature
    if settings.top_p is not None:
        params["top_p"] = settings.top_p
    if settings.stop_sequences:
        if len(settings.stop_sequences) > 4:
            raise ConfigurationError(
                f"OpenAI takes at most 4 stop sequences, not {len(settings.stop_sequences)}"
            )
        params["stop"] = list(settings.stop_sequences)
    if request.user is not None:
        # ``user`` is deprecated for this; the id asked for is an opaque one.
        params["safety_identifier"] = end_user_id(request.user)
    return params


def _message_params(message: Message) -> list[dict[str, Any]]:
    if message.role == "user":
        results = [b for b in message.content if isinstance(b, ToolResultBlock)]
        out: list[dict[str, Any]] = [
            {"role": "tool", "tool_call_id": b.tool_use_id, "content": _tool_text(b)}
            for b in results
        ]
        returned = [(b.tool_use_id, f) for b in results for f in b.attachments]
        if returned:
            # A tool message holds text only: what the tools returned besides goes in a user
            # message right after them, each file introduced by the call that returned it.
            parts: list[dict[str, Any]] = []
            for call_id, file in returned:
                parts.append({"type": "text", "text": f"Returned by tool call {call_id}:"})
                parts.append(_file_part(file))
            out.append({"role": "user", "content": parts})
        files = [b for b in message.content if isinstance(b, ImageBlock | DocumentBlock)]
        if files:
            parts: list[dict[str, Any]] = [{"type": "text", "text": message.text}]
            parts += [_file_part(b) for b in files]
            out.append({"role": "user", "content": parts})
        elif message.text:
            out.append({"role": "user", "content": message.text})
        return out
    param: dict[str, Any] = {"role": "assistant", "content": message.text or None}
    if message.tool_calls:
        param["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.input)},
            }
            for c in message.tool_calls
        ]
    return [param]


def _tool_text(block: ToolResultBlock) -> str:
    if not block.attachments:
        return block.content
    count = len(block.attachments)
    note = f"({count} file{'s' if count > 1 else ''} returned, in the next message)"
    return f"{block.content}\n{note}" if block.content else note


def _file_part(block: ImageBlock | DocumentBlock) -> dict[str, Any]:
    url = f"data:{block.media_type};base64,{block.data}"
    if isinstance(block, ImageBlock):
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": "file", "file": {"filename": block.title or "document.pdf", "file_data": url}}


def _tool_param(tool: ToolDefinition) -> dict[str, Any]:
    function = {"name": tool.name, "description": tool.description, "parameters": tool.input_schema}
    return {"type": "function", "function": function}


def _tool_choice_param(choice: ToolChoice) -> Any:
    if choice in ("auto", "none"):
        return choice
    if choice == "any":
        return "required"
    return {"type": "function", "function": {"name": choice}}


def _response(
    response_id: str,
    model: str,
    text: str | None,
    refusal: str | None,
    calls: Sequence[tuple[str, str, str]],
    finish: str | None,
    usage: _WireUsage | None,
) -> ModelResponse:
    content: list[ContentBlock] = []
    if text:
        content.append(TextBlock(text=text))
    for call_id, name, arguments in calls:
        try:
            arguments_value: Any = json.loads(arguments or "{}")
        except ValueError:
            arguments_value = arguments  # the loop answers it as malformed
        content.append(ToolUseBlock(id=call_id, name=name, input=arguments_value))
    stop = "refusal" if refusal else _STOP_REASONS.get(finish or "")
    if refusal and not content:
        content.append(TextBlock(text=refusal))
    cached = 0
    if usage is not None and usage.prompt_tokens_details is not None:
        cached = usage.prompt_tokens_details.cached_tokens or 0
    return ModelResponse(
        content=tuple(content),
        stop_reason=stop,
        usage=Usage(
            input_tokens=(usage.prompt_tokens - cached) if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            cache_read_input_tokens=cached,
        ),
        model=model,
        id=response_id,
    )


def _api_message(err: openai.APIError) -> str:
    """The API's own message (the SDK's prefixes it with ``Error code: ...``)."""
    body: object = err.body
    if isinstance(body, dict):
        message = cast(dict[str, Any], body).get("message")
        if isinstance(message, str) and message:
            return message
    return err.message


def _failure(err: Exception) -> Failure | None:
    if not isinstance(err, openai.APIError):
        return None
    if isinstance(err, openai.APIConnectionError):  # timeouts included
        return Failure(
            ModelUnavailable(f"could not reach the OpenAI API at {err.request.url}: {err.message}"),
            retryable=True,
        )
    if isinstance(err, openai.APIStatusError):
        headers = err.response.headers
        status = err.status_code
        error = ModelHTTPError(status, _api_message(err), err.body)
        return Failure(error, retryable_status(status, headers), parse_retry_after(headers))
    if isinstance(err, openai.APIResponseValidationError):
        return Failure(ModelResponseError(err.message), retryable=False)
    # An error the stream reported after its 200: the API's own overload or rate limit.
    raw: object = err.body
    body: dict[str, Any] = cast(dict[str, Any], raw) if isinstance(raw, dict) else {}
    kind = str(body.get("type") or body.get("code") or "")
    status = 429 if "rate_limit" in kind else 500
    return Failure(ModelHTTPError(status, err.message, body or None), retryable=True)


class _Wire(BaseModel):
    """What we read of the API's answer; fields we do not use are not checked."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class _WirePromptDetails(_Wire):
    cached_tokens: int | None = None


class _WireUsage(_Wire):
    prompt_tokens: int
    completion_tokens: int
    prompt_tokens_details: _WirePromptDetails | None = None


class _WireFunction(_Wire):
    name: str
    arguments: str


class _WireToolCall(_Wire):
    id: str
    function: _WireFunction


class _WireMessage(_Wire):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_WireToolCall] | None = None


class _WireChoice(_Wire):
    message: _WireMessage
    finish_reason: str | None = None


class _WireCompletion(_Wire):
    id: str = ""
    model: str
    choices: list[_WireChoice]
    usage: _WireUsage | None = None


class _WireFunctionDelta(_Wire):
    name: str | None = None
    arguments: str | None = None


class _WireToolCallDelta(_Wire):
    index: int
    id: str | None = None
    function: _WireFunctionDelta | None = None


class _WireDelta(_Wire):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_WireToolCallDelta] | None = None


class _WireChunkChoice(_Wire):
    delta: _WireDelta
    finish_reason: str | None = None


class _WireChunk(_Wire):
    id: str = ""
    model: str = ""
    choices: list[_WireChunkChoice] = []
    usage: _WireUsage | None = None
