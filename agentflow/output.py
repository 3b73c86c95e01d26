"""Structured output: the final answer as a validated value of the agent's ``output_type``.

The answer is asked for as a tool call, as Pydantic AI's default ``ToolOutput`` mode does: every
provider that calls tools can give it, its arguments are a JSON object checked against a schema,
and a validation failure goes back to the model as the call's error result, exactly as a bad
tool call does, bounded by the same [`max_retries`][agentflow.Limits.max_retries]. The loop (not a
provider feature) enforces it, so it behaves the same in-process, on Temporal and on any model.

An ``output_type`` whose JSON schema is not an object (``int``, ``list[str]``, a union) is
wrapped in an object with one ``response`` field, because tool arguments must be an object.
"""

from __future__ import annotations

from typing import Any, Generic, cast

import pydantic_core
from pydantic import BaseModel, TypeAdapter, ValidationError
from typing_extensions import TypeVar

from agentflow.exceptions import InvalidArguments
from agentflow.messages import ToolDefinition
from agentflow.tools import MAX_ARGUMENT_BYTES, format_validation_errors, schema_without_titles

OutputT = TypeVar("OutputT", default=str)
"""The type of a run's final answer: ``str`` unless the agent has an ``output_type``."""

OUTPUT_TOOL = "final_result"
"""The name of the tool through which the model gives a structured answer."""

TEXT_NOT_ACCEPTED = (
    f"A plain text answer is not accepted here: give your final answer by calling the "
    f"{OUTPUT_TOOL} tool."
)
NOT_ALONE = (
    f"Not accepted: call {OUTPUT_TOOL} on its own, once the other tools of this turn have answered."
)


class OutputSpec(Generic[OutputT]):
    """How the loop asks for, and checks, an answer of type ``output_type``.

    Args:
        output_type: A pydantic model, dataclass, ``TypedDict`` or any type pydantic validates.
        name: The output tool's name as the model sees it.
        description: The output tool's description; the type's docstring when ``None``.
    """

    def __init__(
        self,
        output_type: type[OutputT],
        *,
        name: str = OUTPUT_TOOL,
        description: str | None = None,
    ) -> None:
        self.output_type = output_type
        self.name = name
        self._adapter: TypeAdapter[OutputT] = TypeAdapter(output_type)
        schema = schema_without_titles(self._adapter)
        self._wrapped = schema.get("type") != "object"
        if self._wrapped:
            schema = {
                "type": "object",
                "properties": {"response": schema},
                "required": ["response"],
            }
        doc = description or (output_type.__doc__ or "").strip()
        if not doc or doc.startswith(("A base class for creating Pydantic models", "dict()")):
            doc = "Give the final answer."
        self.definition = ToolDefinition(
            name=name,
            description=f"{doc} Call this tool once, on its own, with your final answer.",
            input_schema=schema,
        )
        self.concurrent = False

    def validate(self, raw: Any) -> OutputT:
        """The answer in ``raw`` (the tool call's input); `InvalidArguments` otherwise."""
        size = len(pydantic_core.to_json(raw, fallback=repr))
        if size > MAX_ARGUMENT_BYTES:
            raise InvalidArguments(f"the answer exceeds {MAX_ARGUMENT_BYTES} bytes")
        if not isinstance(raw, dict):
            raise InvalidArguments(f"arguments must be a JSON object, got {type(raw).__name__}")
        value: Any = cast(dict[str, Any], raw)
        if self._wrapped:
            if set(value) != {"response"}:
                raise InvalidArguments('the answer must be an object with one field, "response"')
            value = value["response"]
        try:
            return self._adapter.validate_python(value)
        except ValidationError as exc:
            raise InvalidArguments(format_validation_errors(exc, "Fix the answer")) from None
        except RecursionError:
            raise InvalidArguments("the answer is nested too deeply") from None

    def dump(self, value: OutputT) -> Any:
        """``value`` as JSON-compatible data, as it crosses a durable boundary."""
        return self._adapter.dump_python(value, mode="json")

    def load(self, data: Any) -> OutputT:
        """The inverse of `dump`: a value read back (e.g. from a workflow's reply)."""
        return self._adapter.validate_python(data)

    def text(self, value: OutputT) -> str:
        """``value`` as the text a person is shown (and the transcript keeps): its JSON."""
        if isinstance(value, BaseModel):
            return value.model_dump_json()
        return self._adapter.dump_json(value).decode()
