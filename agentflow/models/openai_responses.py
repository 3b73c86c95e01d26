"""The OpenAI Responses API as a `Model`: the alternative to Chat Completions.

`OpenAIResponsesModel` speaks ``POST /v1/responses``, the API OpenAI builds its newer features
on; `OpenAIModel` (Chat Completions) stays the one for gateways and compatible servers. Both
share one retry layer and one error mapping (`agentflow.models.openai`): the SDK's own retries
are off, the same statuses are retried, each wait is reported, an unreadable answer is an error
that is not retried.

How our messages map onto the API: the system prompt is ``instructions``; a user turn's text,
images and PDFs are ``input_text``, ``input_image`` and ``input_file`` parts; an assistant turn's
text is an assistant message and its tool calls ``function_call`` items; a tool result is a
``function_call_output`` whose output holds its text and, unlike a Chat Completions ``tool``
message, its images and PDFs. Requests are sent with ``store: false``: the transcript is ours,
nothing is kept on OpenAI's side between calls. Sampling settings are sent as ``temperature``
and ``top_p``; the API has no stop sequences, so a request with some is refused before it is
sent. The end user is an opaque ``safety_identifier``. A request is streamed when a driver
listens for text (`agentflow.models.deltas`): each ``response.output_text.delta`` is reported as
it comes, and the answer is read from the ``response.completed`` (or ``response.incomplete``)
event's whole response, so it is the one the same call unstreamed returns. An ``error`` or
``response.failed`` event is retried as an error status is; a stream that ends before its
final event is unreadable, as with the other adapters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from agentflow.extras import require

require("openai", "agentflow.models.openai_responses")  # a missing extra is one line naming it

import openai
from pydantic import BaseModel, ConfigDict, ValidationError

from agentflow.exceptions import ConfigurationError, ModelResponseError
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
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from agentflow.models.base import check_model_requests_allowed, end_user_id, unreadable_response
from agentflow.models.deltas import deltas_wanted, report_delta

# One error mapping and one client set-up for both OpenAI adapters: the Chat Completions module's.
from agentflow.models.openai import (
    OpenAIClientModel,
    _failure,  # pyright: ignore[reportPrivateUsage]
)
from agentflow.models.retries import retrying

__all__ = ["OpenAIResponsesModel"]


class OpenAIResponsesModel(OpenAIClientModel):
    """A `Model` backed by ``openai.AsyncOpenAI`` on the Responses API.

    Args:
        model: The model to call, e.g. ``"gpt-5"``.
        client: A ready SDK client; when given, ``api_key``, ``base_url`` and ``timeout`` are
            ignored. Its retries are not used.
        api_key: The API key; defaults to the ``OPENAI_API_KEY`` environment variable.
        base_url: The API's base URL (``.../v1``); when ``None`` the SDK reads
            ``OPENAI_BASE_URL`` and otherwise uses ``https://api.openai.com/v1``.
        retry: How failures that may pass are retried; ``RetryPolicy()`` when ``None``.
        timeout: Seconds allowed for one HTTP attempt; ``None`` keeps the SDK's default.

    Raises:
        ConfigurationError: No ``client`` was given and no API key is available.
    """

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Perform one Responses API call, retried as `OpenAIModel` retries.

        Raises:
            ModelHTTPError: The API answered with an error status (after the retries).
            ModelUnavailable: The API could not be reached, or did not answer in time.
            ModelResponseError: The API's answer could not be understood.
            ConfigurationError: Real model requests are blocked in this run, or the request
                has stop sequences (the API has none).
        """
        check_model_requests_allowed(self._model)
        params = _params(self._model, request)

        streamed = deltas_wanted()

        async def attempt() -> ModelResponse:
            return await (self._stream(params) if streamed else self._create(params))

        return await retrying(self._retry, attempt, _failure)

    async def _create(self, params: dict[str, Any]) -> ModelResponse:
        raw = await self._calls.responses.with_raw_response.create(**params, stream=False)
        try:
            wire = _WireResponse.model_validate_json(raw.content)
        except ValidationError as err:
            raise unreadable_response(err) from err
        return _response(wire)

    async def _stream(self, params: dict[str, Any]) -> ModelResponse:
        stream = await self._calls.responses.create(**params, stream=True)
        final: dict[str, Any] | None = None
        async with stream:
            async for event in stream:
                data = cast(dict[str, Any], event.to_dict())
                kind = data.get("type")
                if kind == "response.output_text.delta" and data.get("delta"):
                    report_delta(str(data["delta"]))
                elif kind in ("response.completed", "response.incomplete"):
                    final = data.get("response")
                elif kind in ("error", "response.failed"):
                    # The API's own failure after its 200: mapped (and retried) as the SDK's
                    # in-stream errors are.
                    failed: dict[str, Any] = data.get("response") or {}
                    error: object = data if kind == "error" else failed.get("error")
                    fields = cast(dict[str, Any], error) if isinstance(error, dict) else {}
                    body = {k: v for k, v in fields.items() if k not in ("type", "sequence_number")}
                    message = str(body.get("message") or "the response failed")
                    raise openai.APIError(message, stream.response.request, body=body)
        if final is None:
            raise ModelResponseError("the stream ended before its response.completed event")
        try:
            wire = _WireResponse.model_validate(final)
        except ValidationError as err:
            raise unreadable_response(err, "response") from err
        return _response(wire)


def _params(model: str, request: ModelRequest) -> dict[str, Any]:
    settings = request.settings
    if settings.stop_sequences:
        raise ConfigurationError(
            "the Responses API has no stop sequences: leave them unset in ModelSettings, or use "
            "OpenAIModel (Chat Completions)"
        )
    items: list[dict[str, Any]] = []
    for message in request.messages:
        items.extend(_items(message))
    params: dict[str, Any] = {
        "model": model,
        "input": items,
        "max_output_tokens": request.max_tokens,
        "store": False,
    }
    if request.system:
        params["instructions"] = request.system
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.input_schema,
                "strict": False,
            }
            for t in request.tools
        ]
        params["tool_choice"] = _tool_choice(request.tool_choice)
    if settings.temperature is not None:
        params["temperature"] = settings.temperature
    if settings.top_p is not None:
        params["top_p"] = settings.top_p
    if request.user is not None:
        params["safety_identifier"] = end_user_id(request.user)
    return params


def _items(message: Message) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if message.role == "assistant":
        if message.text:
            items.append({"role": "assistant", "content": message.text})
        for call in message.tool_calls:
            arguments = json.dumps(call.input)
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": arguments,
                }
            )
        return items
    parts: list[dict[str, Any]] = []
    for block in message.content:
        match block:
            case ToolResultBlock():
                output: Any = block.content
                if block.attachments:
                    output = (
                        [{"type": "input_text", "text": block.content}] if block.content else []
                    )
                    output += [_file_part(f) for f in block.attachments]
                items.append(
                    {"type": "function_call_output", "call_id": block.tool_use_id, "output": output}
                )
            case TextBlock() if block.text:
                parts.append({"type": "input_text", "text": block.text})
            case ImageBlock() | DocumentBlock():
                parts.append(_file_part(block))
            case _:
                pass
    if parts:
        items.append({"role": "user", "content": parts})
    return items


def _file_part(block: ImageBlock | DocumentBlock) -> dict[str, Any]:
    url = f"data:{block.media_type};base64,{block.data}"
    if isinstance(block, ImageBlock):
        return {"type": "input_image", "image_url": url}
    return {"type": "input_file", "filename": block.title or "document.pdf", "file_data": url}


def _tool_choice(choice: ToolChoice) -> Any:
    if choice in ("auto", "none"):
        return choice
    if choice == "any":
        return "required"
    return {"type": "function", "name": choice}


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _WireInputDetails(_Wire):
    cached_tokens: int | None = None


class _WireUsage(_Wire):
    input_tokens: int
    output_tokens: int
    input_tokens_details: _WireInputDetails | None = None


class _WireIncomplete(_Wire):
    reason: str | None = None


class _WireResponse(_Wire):
    id: str = ""
    model: str = ""
    status: str | None = None
    # Items are read one by one (see _response): a type newer than this adapter is skipped.
    output: list[dict[str, Any]]
    incomplete_details: _WireIncomplete | None = None
    usage: _WireUsage | None = None


class _WireCall(_Wire):
    call_id: str
    name: str
    arguments: str


class _WirePart(_Wire):
    type: str
    text: str = ""
    refusal: str = ""


class _WireMessage(_Wire):
    content: list[_WirePart]


def _response(wire: _WireResponse) -> ModelResponse:
    content: list[ContentBlock] = []
    refusal = ""
    for index, item in enumerate(wire.output):
        try:
            match item.get("type"):
                case "message":
                    for part in _WireMessage.model_validate(item).content:
                        if part.type == "output_text" and part.text:
                            content.append(TextBlock(text=part.text))
                        elif part.type == "refusal":
                            refusal += part.refusal
                case "function_call":
                    call = _WireCall.model_validate(item)
                    try:
                        arguments: Any = json.loads(call.arguments or "{}")
                    except ValueError:
                        arguments = call.arguments  # the loop answers it as malformed
                    content.append(ToolUseBlock(id=call.call_id, name=call.name, input=arguments))
                case _:
                    pass  # reasoning summaries, server tools: nothing of ours
        except ValidationError as err:
            raise unreadable_response(err, f"output.{index}") from err
    if refusal and not content:
        content.append(TextBlock(text=refusal))
    usage = wire.usage
    cached = 0
    if usage is not None and usage.input_tokens_details is not None:
        cached = usage.input_tokens_details.cached_tokens or 0
    return ModelResponse(
        content=tuple(content),
        stop_reason=_stop_reason(wire, content, bool(refusal)),
        usage=Usage(
            input_tokens=(usage.input_tokens - cached) if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cache_read_input_tokens=cached,
        ),
        model=wire.model,
        id=wire.id,
    )


def _stop_reason(
    wire: _WireResponse, content: Sequence[ContentBlock], refused: bool
) -> StopReason | None:
    if refused:
        return "refusal"
    if wire.status == "incomplete":
        reason = wire.incomplete_details.reason if wire.incomplete_details else None
        return "refusal" if reason == "content_filter" else "max_tokens"
    if wire.status not in (None, "completed"):
        raise ModelResponseError(f"status: the response is {wire.status!r}, not completed")
    if any(isinstance(b, ToolUseBlock) for b in content):
        return "tool_use"
    return "end_turn"
