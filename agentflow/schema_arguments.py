"""Tool arguments described by a JSON schema: checked by the schema, read as attributes.

The schema is the contract, so the ``jsonschema`` library (the reference implementation of the
specification, every draft, maintained with it) checks each call against it as written; a
pydantic model built from a schema would check only the subset pydantic can express, and with
pydantic's coercions (``"5"`` for ``5``) rather than the schema's rules. The arguments then
reach preconditions as a pydantic model with one attribute per property (``args.price``), as
a Python tool's do, and the tool's body as the JSON object the schema accepted.

What cannot work is refused when the tool is defined, not when the model first calls it: a
schema that is not one, arguments that are not a JSON object, a ``$ref`` that does not resolve
inside the schema (resolving a remote one would fetch it during a call).

``jsonschema`` takes a noticeable time to import: only `agentflow.Tool.from_schema` and MCP
servers' tools load this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, cast

import jsonschema
import jsonschema.validators
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema.protocols import Validator
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

from agentflow.exceptions import ToolDefinitionError

__all__ = ["SchemaArguments", "schema_arguments"]

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ROOT = "urn:agentflow:tool-arguments"
"""The base URI the schema's ``#...`` references are resolved against."""


class SchemaArguments(BaseModel):
    """Arguments checked against a JSON schema before pydantic reads them."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    schema_validator: ClassVar[Validator]
    as_sent_only: ClassVar[bool] = True
    """`agentflow.binding.canonical_arguments` writes only what was sent, by property name."""

    @model_validator(mode="before")
    @classmethod
    def _check(cls, raw: Any) -> Any:
        errors: Iterable[jsonschema.ValidationError] = cls.schema_validator.iter_errors(raw)
        problems = sorted(errors, key=lambda e: [str(part) for part in e.path])
        if problems:
            text = "; ".join(_problem(p) for p in problems[:10])
            raise PydanticCustomError("json_schema", "{problems}", {"problems": text})
        return raw

    def as_sent(self) -> dict[str, Any]:
        """The JSON object the schema accepted, by the schema's property names."""
        return self.model_dump(by_alias=True, exclude_unset=True)


def schema_arguments(tool_name: str, schema: Mapping[str, Any]) -> type[SchemaArguments]:
    """The arguments model of a tool described by ``schema``, or `ToolDefinitionError`.

    Each property becomes an attribute of the same name; one whose name is no attribute (a
    hyphen, a leading underscore, ``model_...``) becomes ``p<n>``, its position, with the
    property name as its alias.
    """
    plain = dict(schema)
    validator_class = jsonschema.validators.validator_for(plain, default=_DEFAULT)
    try:
        validator_class.check_schema(plain)
    except jsonschema.SchemaError as exc:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: invalid JSON schema: {exc.message}"
        ) from None
    kind = plain.get("type", "object")
    if kind != "object" and not (isinstance(kind, list) and "object" in kind):
        raise ToolDefinitionError(
            f"tool {tool_name!r}: a tool's arguments are a JSON object; its schema's type is "
            f"{kind!r}"
        )
    _check_references(tool_name, plain)
    properties = cast(dict[str, Any], plain.get("properties") or {})
    fields: dict[str, Any] = {
        attribute: (Any, Field(default=None, alias=prop))
        for attribute, prop in _attributes(list(properties))
    }
    model: type[SchemaArguments] = create_model(
        f"{tool_name}_arguments", __base__=SchemaArguments, **fields
    )
    model.schema_validator = validator_class(plain)
    return model


_RESERVED = frozenset({"schema_validator", "as_sent", "as_sent_only"})


def _reserved(name: str) -> bool:
    return name.startswith("model_") or name in _RESERVED


_DEFAULT = jsonschema.Draft202012Validator
"""The draft of a schema that names none (MCP's, and the one models are given)."""


def _attributes(properties: list[str]) -> Iterator[tuple[str, str]]:
    usable = {p for p in properties if _IDENTIFIER.match(p) and not _reserved(p)}
    taken = set(usable)
    for index, prop in enumerate(properties):
        if prop in usable:
            yield prop, prop
            continue
        attribute = f"p{index}"
        while attribute in taken:
            attribute += "_"
        taken.add(attribute)
        yield attribute, prop


def _check_references(tool_name: str, schema: dict[str, Any]) -> None:
    resource: referencing.Resource[Any] = referencing.Resource.from_contents(
        schema, default_specification=referencing.jsonschema.DRAFT202012
    )
    registry: referencing.Registry[Any] = referencing.Registry()
    resolver = registry.with_resource(_ROOT, resource).resolver(_ROOT)
    for reference in sorted(set(_references(schema))):
        try:
            if not reference.startswith("#"):
                raise referencing.exceptions.Unresolvable(reference)
            resolver.lookup(reference)
        except referencing.exceptions.Unresolvable:
            raise ToolDefinitionError(
                f"tool {tool_name!r}: the JSON schema's $ref {reference!r} does not resolve "
                f"inside the schema (put what it names under $defs)"
            ) from None


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in cast(dict[str, Any], node).items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in cast(list[Any], node):
            yield from _references(item)


def _problem(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(part) for part in error.path) or "(arguments)"
    return f"{where}: {error.message}"
