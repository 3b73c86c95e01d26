"""The conversation as data: messages, content blocks, model requests and responses.

These mirror the Anthropic Messages API closely (it is the richest tool-use wire format) but are
our own types, so that the loop, the Temporal workflows and the audit trail share one
serialisable shape that does not depend on any SDK.

They are frozen, slotted standard-library dataclasses rather than pydantic models: the loop
builds several of them per step, and a ``BaseModel`` re-validates every field (and every message
of a request) on each construction, which made up much of the framework's per-step cost. Pydantic
still validates and serialises them wherever they cross a boundary (inside
[`LoopState`][agentflow.LoopState], through ``TypeAdapter`` and Temporal's pydantic data converter),
with the same JSON shape, the same ``type`` discriminator and the same refusal of unknown fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from pydantic import ConfigDict, Field, SerializerFunctionWrapHandler, WrapSerializer, with_config

from agentflow.exceptions import ConfigurationError

_STRICT = ConfigDict(extra="forbid")
"""Validating input with a field we do not know fails instead of silently dropping it."""


def keep_tag(tag: str) -> WrapSerializer:
    """A union's serializer that always writes its members' ``tag`` field.

    The tag has a default in each member (``type="text"``), and a serializer told to leave
    defaults out (as agentflow's Temporal converter is) would leave it out too, when it is what
    the union is read back by.
    """

    def tagged(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        data: Any = handler(value)
        if isinstance(data, dict) and tag not in data:
            return {tag: getattr(value, tag), **cast(dict[str, Any], data)}
        return cast(Any, data)

    return WrapSerializer(tagged)


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class TextBlock:
    """Text the user wrote or the model answered."""

    type: Literal["text"] = "text"
    text: str


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class ToolUseBlock:
    """A tool call proposed by the model. ``input`` is whatever the model sent, unvalidated."""

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: Any


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class ThinkingBlock:
    """The model's reasoning before it answered (Anthropic's extended thinking).

    Kept in the transcript and sent back as it came: the API checks ``signature`` and wants a
    turn's thinking returned, unmodified, with the tool results that follow it. It is not part
    of `Message.text`: the user is not shown it.
    """

    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str = ""


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class RedactedThinkingBlock:
    """Reasoning the provider encrypted (``data``, opaque); sent back as it came."""

    type: Literal["redacted_thinking"] = "redacted_thinking"
    data: str


ImageMediaType = Literal["image/jpeg", "image/png", "image/gif", "image/webp"]


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class ImageBlock:
    """An image the user sent, base64-encoded (see `agentflow.attachments`)."""

    type: Literal["image"] = "image"
    media_type: ImageMediaType
    data: str


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentBlock:
    """A PDF the user sent, base64-encoded (see `agentflow.attachments`)."""

    type: Literal["document"] = "document"
    media_type: Literal["application/pdf"] = "application/pdf"
    data: str
    title: str = ""


Attachment = Annotated[ImageBlock | DocumentBlock, keep_tag("type")]
"""What a user message can carry besides its text."""


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResultBlock:
    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str
    is_error: bool = False
    attachments: tuple[Attachment, ...] = ()
    """Images and PDFs the tool returned, after its text (see `agentflow.tools.split_result`)."""


ContentBlock = Annotated[
    TextBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ImageBlock
    | DocumentBlock,
    Field(discriminator="type"),
    keep_tag("type"),
]
"""One block of a message, told apart by its ``type``."""


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One turn of the transcript: the user's (text, tool results) or the model's."""

    role: Literal["user", "assistant"]
    content: tuple[ContentBlock, ...]

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_calls(self) -> tuple[ToolUseBlock, ...]:
        return tuple(b for b in self.content if isinstance(b, ToolUseBlock))


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDefinition:
    """A tool as the model sees it: exactly the Messages API ``tools[]`` entry."""

    name: str
    description: str
    input_schema: dict[str, Any]


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Tokens a model call used, as the provider counted them; ``+`` adds two up."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", "refusal"]

ToolChoice = Literal["auto", "any", "none"] | str
"""``auto``/``any``/``none``, or the name of one tool the model must call."""


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSettings:
    """How the model samples its answer; ``None`` (or no stop sequence) keeps the provider's.

    The longest answer is `Limits.max_response_tokens` (sent as
    ``max_tokens``), a bound of the run like the others.

    Raises:
        ConfigurationError: ``temperature`` outside 0 to 2, ``top_p`` outside 0 to 1, or an
            empty stop sequence.
    """

    temperature: float | None = None
    """Randomness: 0 to 1 for Claude, 0 to 2 for OpenAI's models."""
    top_p: float | None = None
    """Nucleus sampling: only the most likely tokens adding up to this probability."""
    stop_sequences: tuple[str, ...] = ()
    """Text that ends the answer where the model writes it (stop reason ``stop_sequence``)."""

    def __post_init__(self) -> None:
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise ConfigurationError(f"temperature must be between 0 and 2, not {self.temperature}")
        if self.top_p is not None and not 0 <= self.top_p <= 1:
            raise ConfigurationError(f"top_p must be between 0 and 1, not {self.top_p}")
        if any(not stop for stop in self.stop_sequences):
            raise ConfigurationError("a stop sequence must not be empty")


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    """Everything a model needs for one call; produced by the loop, performed by a driver."""

    system: str = ""
    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice = "auto"
    max_tokens: int = 4096
    settings: ModelSettings = ModelSettings()
    user: str | None = None
    """Who the call is made for: the sender of the message being answered, else the
    conversation's owner. Adapters send the provider an opaque digest of it
    (`end_user_id`), never the id itself."""


@with_config(_STRICT)
@dataclass(frozen=True, slots=True, kw_only=True)
class ModelResponse:
    content: tuple[ContentBlock, ...]
    stop_reason: StopReason | None = "end_turn"
    usage: Usage = Usage()
    model: str = ""
    id: str = ""
    """The provider's id of this response (``msg_...``), when it gave one."""

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_calls(self) -> tuple[ToolUseBlock, ...]:
        return tuple(b for b in self.content if isinstance(b, ToolUseBlock))
