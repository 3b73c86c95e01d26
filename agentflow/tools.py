"""Typed tools: an annotated Python function becomes a tool the model can call.

The arguments model is built from the signature with pydantic, the description from the
docstring (Google-style ``Args:`` entries describe the parameters), and a parameter annotated
[`RunContext`][agentflow.RunContext] is injected by the runtime and never shown to the model.

Non-finite numbers (NaN, infinities, as floats or decimals) never reach a precondition or a tool
body: every comparison with NaN is false, so ``abs(quote - price) > 0.005`` would let it pass.
[`Tool.validate`][agentflow.Tool.validate], the one validation point of every path, refuses them
wherever they sit.
"""

from __future__ import annotations

import asyncio
import collections.abc
import dataclasses
import enum
import functools
import hashlib
import inspect
import json
import math
import types
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import date, time, timedelta
from decimal import Decimal
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    overload,
)

import docstring_parser
import pydantic_core
from pydantic import BaseModel, ConfigDict, RootModel, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails
from typing_extensions import TypeVar

from agentflow.context import DepsT, RunContext
from agentflow.exceptions import InvalidArguments, ToolDefinitionError
from agentflow.messages import Attachment, DocumentBlock, ImageBlock, ToolDefinition
from agentflow.preconditions import Precondition

ArgsT = TypeVar("ArgsT", bound=BaseModel, default=Any)
"""A tool's arguments model; ``Any`` for a tool whose model is built from its signature."""
ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_ARGUMENT_BYTES = 64 * 1024
"""Tool arguments larger than this are refused before validation (a model gone astray)."""


class _SchemaWithoutTitles(GenerateJsonSchema):
    """Titles repeat the names of properties and models and cost the model tokens: drop them."""

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        return _drop_titles(super().generate(schema, mode))


def _drop_titles(node: Any, *, names: bool = False) -> Any:
    if isinstance(node, dict):
        items = cast(dict[str, Any], node).items()
        return {
            key: _drop_titles(value, names=key in ("properties", "$defs") and not names)
            for key, value in items
            if names or not (key == "title" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_drop_titles(item) for item in cast(list[Any], node)]
    return node


class Tool(Generic[DepsT, ArgsT]):
    """A function the model may call, with its schema and its preconditions.

    Build tools with the [`tool`][agentflow.tool] decorator,
    [`from_model`][agentflow.Tool.from_model] or [`from_schema`][agentflow.Tool.from_schema]; the
    runtime calls them only through `agentflow.execution.invoke_tool`, which evaluates the
    preconditions first. ``ArgsT`` is the pydantic model of the arguments when
    the tool takes one (``Tool[Deps, BookingRequest]``): its preconditions are then
    ``Precondition[BookingRequest]``, checked by a type checker.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        requires: Precondition[ArgsT] | None = None,
        side_effects: bool = False,
        concurrent: bool | None = None,
        trusted_output: bool = False,
        args_model: type[ArgsT] | None = None,
        input_schema: dict[str, Any] | None = None,
        _json_body: bool = False,
    ) -> None:
        self.function = function
        self._given = (description, concurrent, args_model, input_schema, _json_body)
        """What [`requiring`][agentflow.Tool.requiring] passes on unchanged."""
        self.name = name or function.__name__
        self.requires = requires
        self.side_effects = side_effects
        self.concurrent = self.read_only if concurrent is None else concurrent
        """May run at the same time as other calls of the turn (see [`tool`][agentflow.tool])."""
        self.trusted_output = trusted_output
        """Its results vouch for the values in them (see `agentflow.provenance`)."""
        self._is_async = inspect.iscoroutinefunction(function)
        self._model_param: str | None = None
        """The parameter that receives the arguments whole (``None``: field by field)."""
        self._json_body = _json_body
        """It receives them as the JSON object that was sent, not as the model."""
        if args_model is None:
            model, self.context_param, summary = _build_arguments(function, self.name)
            self.args_model = cast(type[ArgsT], model)
        else:
            self.args_model = _arguments_model(args_model, self.name)
            self._model_param, self.context_param, summary = _one_argument(
                function, self.name, dict if _json_body else args_model
            )
        self._parameters = tuple(self.args_model.model_fields)
        """The model's parameter names, looked up once: ``model_fields`` is slow to read."""
        self._walk_for_non_finite = self.args_model.model_config.get(
            "allow_inf_nan", True
        ) is not False or any(
            _may_hide_non_finite(info.annotation, info.metadata)
            for info in self.args_model.model_fields.values()
        )
        """A model whose config refuses NaN and infinities does so in plain fields and
        containers; decided once per tool, only other shapes (nested models, ``Any``, a model
        that allows them) need the values walked."""
        self.description = _describe(description or summary, requires)
        self.definition = ToolDefinition(
            name=self.name,
            description=self.description,
            input_schema=input_schema
            or self.args_model.model_json_schema(schema_generator=_SchemaWithoutTitles),
        )

    @property
    def read_only(self) -> bool:
        """No side effects and no preconditions: nothing to authorise, nothing done twice.

        Such a tool's calls run concurrently by default (see [`tool`][agentflow.tool]) and, with
        ``DurableOptions(local_read_only_tools=True)``, as Temporal local activities inside the
        conversation's workflow task. ``concurrent=True`` does not make a tool read-only.
        """
        return not self.side_effects and self.requires is None

    @staticmethod
    def from_model(
        name: str,
        model: type[ModelT],
        function: Callable[..., Any],
        *,
        description: str | None = None,
        requires: Precondition[ModelT] | None = None,
        side_effects: bool = False,
        concurrent: bool | None = None,
        trusted_output: bool = False,
    ) -> Tool[Any, ModelT]:
        """A tool whose arguments are ``model``: its schema, its validation, one instance.

        ``function`` takes the validated instance as its one parameter (and, if it declares
        one, a ``RunContext``); the model sees ``model``'s JSON schema, flat, as the model
        describes it (its config decides whether unknown fields are refused or ignored). The
        other options are [`tool`][agentflow.tool]'s.

        Raises:
            ToolDefinitionError: ``model`` is no object model, or ``function`` takes other
                parameters.
        """
        return Tool(
            function,
            name=name,
            description=description,
            requires=requires,
            side_effects=side_effects,
            concurrent=concurrent,
            trusted_output=trusted_output,
            args_model=model,
        )

    @staticmethod
    def from_schema(
        name: str,
        schema: Mapping[str, Any],
        function: Callable[..., Any],
        *,
        description: str | None = None,
        requires: Precondition | None = None,
        side_effects: bool = False,
        concurrent: bool | None = None,
        trusted_output: bool = False,
    ) -> Tool[Any]:
        """A tool whose arguments a JSON schema describes (see `agentflow.schema_arguments`).

        The model is given ``schema`` as it is; each call is checked against it with the
        ``jsonschema`` library before anything runs. Preconditions read the arguments as
        attributes (``args.price``); ``function`` takes the JSON object the schema accepted
        (a ``dict``) as its one parameter, and a ``RunContext`` if it declares one.

        Raises:
            ToolDefinitionError: the schema is invalid, describes no JSON object, or has a
                ``$ref`` that does not resolve inside it.
        """
        # jsonschema takes a noticeable time to import: only schema tools load it.
        from agentflow.schema_arguments import schema_arguments

        return Tool(
            function,
            name=name,
            description=description,
            requires=requires,
            side_effects=side_effects,
            concurrent=concurrent,
            trusted_output=trusted_output,
            args_model=cast(type[Any], schema_arguments(name, schema)),
            input_schema=dict(schema),
            _json_body=True,
        )

    @functools.cached_property
    def contract(self) -> str:
        """The version of the tool's arguments contract: a short hash of their JSON schema.

        It changes when what a call may carry changes (an argument added, removed, retyped, a
        default changed), not when a description does. An approval records the version it was
        given under; a call run under another one is refused as a version change (see
        `agentflow.approvals.rules.contract_problem`), since the approved digest no longer
        describes what the new model makes of the arguments.
        """
        schema = _without_prose(self.definition.input_schema)
        return hashlib.sha256(pydantic_core.to_json(schema, by_alias=False)).hexdigest()[:16]

    def requiring(self, rule: Precondition[ArgsT]) -> Tool[DepsT, ArgsT]:
        """This tool with ``rule`` added to its preconditions (and to the rules it describes)."""
        description, concurrent, args_model, input_schema, json_body = self._given
        return Tool(
            self.function,
            name=self.name,
            description=description,
            requires=rule if self.requires is None else self.requires & rule,
            side_effects=self.side_effects,
            concurrent=concurrent,
            trusted_output=self.trusted_output,
            args_model=args_model,
            input_schema=input_schema,
            _json_body=json_body,
        )

    def validate(self, raw: Any) -> ArgsT:
        """Validate what the model sent; raise `InvalidArguments` with a usable message."""
        if isinstance(raw, str | bytes):
            size = len(raw)
            if size > MAX_ARGUMENT_BYTES:
                raise InvalidArguments(f"arguments exceed {MAX_ARGUMENT_BYTES} bytes")
            try:
                raw = json.loads(raw or "{}")
            except ValueError as exc:
                raise InvalidArguments(f"arguments are not valid JSON: {exc}") from None
        elif raw is None:
            raw, size = {}, 0
        else:
            size = len(pydantic_core.to_json(raw, fallback=repr))
        if size > MAX_ARGUMENT_BYTES:
            raise InvalidArguments(f"arguments exceed {MAX_ARGUMENT_BYTES} bytes")
        if not isinstance(raw, dict):
            raise InvalidArguments(f"arguments must be a JSON object, got {type(raw).__name__}")
        try:
            args = self.args_model.model_validate(raw)
            if self._walk_for_non_finite:
                _refuse_non_finite(args)
            return args
        except ValidationError as exc:
            raise InvalidArguments(format_validation_errors(exc)) from None
        except RecursionError:
            raise InvalidArguments("arguments are nested too deeply") from None

    async def call(self, ctx: RunContext[DepsT], args: ArgsT) -> Any:
        """Run the body. Only the executor calls this, after the preconditions allowed it."""
        kwargs: dict[str, Any]
        if self._model_param is None:
            kwargs = {name: getattr(args, name) for name in self._parameters}
        elif self._json_body:
            kwargs = {self._model_param: args.model_dump(by_alias=True, exclude_unset=True)}
        else:
            kwargs = {self._model_param: args}
        if self.context_param is not None:
            kwargs[self.context_param] = ctx
        if self._is_async:
            return await self.function(**kwargs)
        # A sync tool may block (a database, an HTTP API); keep the event loop free.
        return await asyncio.to_thread(self.function, **kwargs)

    def __repr__(self) -> str:
        return f"<Tool {self.name}>"


_PROSE = frozenset({"description", "title", "examples"})
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions"})


def _without_prose(schema: Any, *, names: bool = False) -> Any:
    """A JSON schema without descriptions, titles and examples: what calls may carry.

    ``names`` marks a mapping of names to schemas (``properties``), whose keys are kept even
    when an argument is called ``title``.
    """
    if isinstance(schema, dict):
        items = sorted(cast(dict[str, Any], schema).items())
        if names:
            return {key: _without_prose(value) for key, value in items}
        return {
            key: _without_prose(value, names=key in _NAMED)
            for key, value in items
            if key not in _PROSE
        }
    if isinstance(schema, list):
        return [_without_prose(value) for value in cast(list[Any], schema)]
    return schema


def split_result(value: Any) -> tuple[str, tuple[Attachment, ...]]:
    """A tool's return value as ``tool_result`` text and the images and PDFs that go with it.

    A tool returns an image or a PDF as a block (`agentflow.attachments.attachment` makes one
    from bytes), alone or in a list or tuple with other values: each other value becomes a line
    of the text, the blocks follow it. Anything else is all text (`serialize_result`).
    """
    if isinstance(value, ImageBlock | DocumentBlock):
        return "", (value,)
    if isinstance(value, list | tuple):
        parts = cast(Sequence[Any], value)
        files = tuple(p for p in parts if isinstance(p, ImageBlock | DocumentBlock))
        if files:
            rest = [
                serialize_result(p) for p in parts if not isinstance(p, ImageBlock | DocumentBlock)
            ]
            return "\n".join(rest), files
    return serialize_result(value), ()


def serialize_result(value: Any) -> str:
    """Turn a tool's return value (model, dataclass, plain type) into ``tool_result`` text."""
    if isinstance(value, str):
        return value
    return pydantic_core.to_json(value).decode()


def schema_without_titles(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """``adapter``'s JSON schema without the titles that only repeat names."""
    return adapter.json_schema(schema_generator=_SchemaWithoutTitles)


def format_validation_errors(
    exc: ValidationError, fix: str = "Fix the arguments and call the tool again"
) -> str:
    """A validation failure as the model is told it: one line per error, then ``fix``."""
    lines = [f"{exc.error_count()} validation error(s):"]
    for error in exc.errors(include_url=False, include_context=False):
        location = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        shown = repr(error.get("input"))
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"- {location}: {error['msg']} (got {shown})")
    return "\n".join(lines) + f"\n{fix}."


_FINITE_BY_CONFIG = (str, bytes, int, float, Decimal, date, time, timedelta, uuid.UUID, enum.Enum)
"""Leaf types the arguments model's ``allow_inf_nan=False`` governs, or that hold no number."""
_CONTAINERS = {
    list,
    tuple,
    set,
    frozenset,
    dict,
    Union,
    types.UnionType,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.MutableSet,
    collections.abc.Mapping,
    collections.abc.MutableMapping,
}
"""Generic types whose arguments the arguments model validates under its own config."""


def _may_hide_non_finite(annotation: Any, metadata: Sequence[Any] = ()) -> bool:
    """Whether a value of ``annotation`` may hold a NaN or an infinity past the model's config.

    Anything not known to be governed by it (a nested model with its own config, ``Any``, a
    custom validator, a field that allows NaN) answers yes: the values are then walked.
    """
    if any(_may_run_code(item) for item in metadata):
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return _may_hide_non_finite(base, extra)
    if origin is Literal or annotation is None or annotation is types.NoneType:
        return False
    if origin in _CONTAINERS:
        return any(_may_hide_non_finite(arg) for arg in get_args(annotation) if arg is not ...)
    if origin is None and isinstance(annotation, type):
        return not issubclass(annotation, _FINITE_BY_CONFIG)
    return True


def _may_run_code(metadata: Any) -> bool:
    """A constraint that lets NaN through, or metadata that builds its own schema (validators)."""
    return getattr(metadata, "allow_inf_nan", None) is True or hasattr(
        metadata, "__get_pydantic_core_schema__"
    )


def _refuse_non_finite(args: BaseModel) -> None:
    errors = [
        InitErrorDetails(type="finite_number", loc=loc, input=value)
        for loc, value in _non_finite(args, ())
    ]
    if errors:
        raise ValidationError.from_exception_data(type(args).__name__, errors)


def _non_finite(
    value: Any, loc: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Where NaN and infinities sit in validated arguments, with the values found there."""
    if isinstance(value, float):
        if not math.isfinite(value):
            yield loc, value
    elif isinstance(value, Decimal):
        if not value.is_finite():
            yield loc, value
    elif isinstance(value, BaseModel):
        for name, item in {**value.__dict__, **(value.__pydantic_extra__ or {})}.items():
            yield from _non_finite(item, (*loc, name))
    elif isinstance(value, dict):
        for key, item in cast(dict[Any, Any], value).items():
            yield from _non_finite(key, (*loc, str(key)))
            yield from _non_finite(item, (*loc, str(key)))
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(cast(list[Any], value)):
            yield from _non_finite(item, (*loc, index))
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _non_finite(getattr(value, field.name, None), (*loc, field.name))


def _describe(summary: str, requires: Precondition | None) -> str:
    if requires is None:
        return summary
    rules = "\n".join(f"- {rule}" for rule in requires.rules())
    return f"{summary}\n\nPreconditions (enforced by the runtime, not negotiable):\n{rules}"


def _is_context(annotation: Any) -> bool:
    return annotation is RunContext or get_origin(annotation) is RunContext


def _hints(function: Callable[..., Any], tool_name: str) -> dict[str, Any]:
    try:
        return get_type_hints(function, include_extras=True)
    except NameError as exc:
        raise ToolDefinitionError(f"tool {tool_name!r}: cannot resolve annotation: {exc}") from exc


def _summary(docstring: docstring_parser.Docstring) -> str:
    parts = (docstring.short_description, docstring.long_description)
    return "\n\n".join(part for part in parts if part)


def _arguments_model(model: Any, tool_name: str) -> Any:
    """``model`` if a tool can take it as its arguments: a pydantic model of a JSON object."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ToolDefinitionError(f"tool {tool_name!r}: {model!r} is not a pydantic model")
    if issubclass(model, RootModel):
        raise ToolDefinitionError(
            f"tool {tool_name!r}: a tool's arguments are a JSON object with named fields; "
            f"{model.__name__} is a root model"
        )
    # An approval binds to the arguments' dump (`canonical_arguments`): a field left out of it
    # would reach the body unseen by the approver and unbound by the digest.
    hidden = [name for name, info in model.model_fields.items() if info.exclude]
    if hidden:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: {model.__name__} excludes {', '.join(hidden)} from its dump, "
            f"which an approval's digest and the approver would not see"
        )
    return model


def _one_argument(
    function: Callable[..., Any], tool_name: str, takes: type[Any]
) -> tuple[str, str | None, str]:
    """The parameter that receives the arguments whole, the context parameter, the summary.

    Besides a ``RunContext``, the function takes exactly one parameter; annotated, it must
    accept ``takes`` (the model, or ``dict`` for a JSON-schema tool).
    """
    hints = _hints(function, tool_name)
    context_param: str | None = None
    others: list[str] = []
    for param in inspect.signature(function).parameters.values():
        annotation = hints.get(param.name)
        if annotation is not None and (
            _is_context(annotation) or _is_context(_unannotated(annotation))
        ):
            context_param = param.name
        else:
            others.append(param.name)
    if len(others) != 1:
        raise ToolDefinitionError(
            f"tool {tool_name!r} takes its arguments as one {takes.__name__}: the function must "
            f"have one parameter for it (and may have a RunContext), not {others or 'none'}"
        )
    annotation = _unannotated(hints.get(others[0], Any))
    accepted = get_origin(annotation) or annotation
    if (
        isinstance(accepted, type)
        and accepted not in (Any, types.UnionType)
        and not issubclass(takes, accepted)
    ):
        raise ToolDefinitionError(
            f"tool {tool_name!r}: parameter {others[0]!r} is annotated {accepted.__name__}, "
            f"but the arguments are a {takes.__name__}"
        )
    docstring = docstring_parser.parse(inspect.getdoc(function) or "")
    return others[0], context_param, _summary(docstring) or tool_name


def _build_arguments(
    function: Callable[..., Any], tool_name: str
) -> tuple[type[BaseModel], str | None, str]:
    hints = _hints(function, tool_name)
    docstring = docstring_parser.parse(inspect.getdoc(function) or "")
    param_docs = {p.arg_name: p.description or "" for p in docstring.params}
    summary = _summary(docstring)

    fields: dict[str, Any] = {}
    context_param: str | None = None
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {tool_name!r}: *args/**kwargs cannot be described")
        if param.name not in hints:
            raise ToolDefinitionError(
                f"tool {tool_name!r}: parameter {param.name!r} needs a type annotation"
            )
        annotation = hints[param.name]
        if _is_context(annotation) or _is_context(_unannotated(annotation)):
            context_param = param.name
            continue
        default = ... if param.default is param.empty else param.default
        info = FieldInfo.from_annotated_attribute(annotation, default)
        if info.description is None and param_docs.get(param.name):
            info.description = param_docs[param.name]
        fields[param.name] = (info.annotation, info)

    model = create_model(
        f"{tool_name}_arguments",
        __config__=ConfigDict(extra="forbid", use_attribute_docstrings=False, allow_inf_nan=False),
        **fields,
    )
    return model, context_param, summary or tool_name


def _unannotated(annotation: Any) -> Any:
    return (
        get_args(annotation)[0]
        if get_args(annotation) and hasattr(annotation, "__metadata__")
        else annotation
    )


ToolFunction = Callable[..., Any] | Callable[..., Awaitable[Any]]


@overload
def tool(function: ToolFunction, /) -> Tool[Any]: ...
@overload
def tool(
    *,
    args_model: type[ModelT],
    name: str | None = None,
    description: str | None = None,
    requires: Precondition[ModelT] | None = None,
    side_effects: bool = False,
    concurrent: bool | None = None,
    trusted_output: bool = False,
) -> Callable[[ToolFunction], Tool[Any, ModelT]]: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    requires: Precondition | None = None,
    side_effects: bool = False,
    concurrent: bool | None = None,
    trusted_output: bool = False,
) -> Callable[[ToolFunction], Tool[Any]]: ...
def tool(
    function: ToolFunction | None = None,
    /,
    *,
    args_model: type[BaseModel] | None = None,
    name: str | None = None,
    description: str | None = None,
    requires: Precondition[Any] | None = None,
    side_effects: bool = False,
    concurrent: bool | None = None,
    trusted_output: bool = False,
) -> Tool[Any, Any] | Callable[[ToolFunction], Tool[Any, Any]]:
    """Turn an annotated function (sync or async) into a [`Tool`][agentflow.Tool].

    Args:
        function: the function, when used as a bare ``@tool``.
        args_model: the function takes its arguments as one instance of this pydantic model
            (``def book(request: BookingRequest)``): the model sees its schema, flat, and the
            tool's preconditions are ``Precondition[BookingRequest]`` (see
            [`Tool.from_model`][agentflow.Tool.from_model]). Without it, each parameter is an
            argument.
        name: the tool name the model sees; defaults to the function name.
        description: overrides the docstring summary.
        requires: the precondition evaluated before every call.
        side_effects: the tool changes the world (books, pays, sends); its context then carries
            an idempotency key that it must honour, and durable drivers never retry it blindly.
        concurrent: whether its calls may run at the same time as the other calls of one model
            turn. By default only tools with no side effects and no preconditions do: any other
            call runs alone, in the model's order, with its preconditions evaluated right
            before its body and after the previous call's effects (two payments against one
            balance must not both pass the balance check). Say ``True`` for a tool whose body
            and preconditions are safe to interleave.
        trusted_output: what the tool returns comes from a source the application controls (an
            internal database, the company's own inventory), so a value in it may be used in a
            write as if the employee had said it. Leave it ``False`` for text anyone outside can
            write (reviews, e-mails, web pages, supplier notes): see `agentflow.provenance`.
    """

    def build(fn: ToolFunction) -> Tool[Any, Any]:
        return Tool(
            cast(Callable[..., Any], fn),
            args_model=args_model,
            name=name,
            description=description,
            requires=requires,
            side_effects=side_effects,
            concurrent=concurrent,
            trusted_output=trusted_output,
        )

    return build if function is None else build(function)
