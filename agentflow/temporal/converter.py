"""agentflow's Temporal data converter: pydantic, with one validator cache per process.

temporalio builds a new payload converter for every workflow instance it loads (its
``payload_converter_class()``), and its pydantic converter keeps the ``TypeAdapter`` cache on
that instance. So each workflow a worker loads, and loads again after a cache eviction, rebuilds
the validators of the types it decodes; for agentflow's message models (``ModelResponse`` and
the content blocks under it) that is slow enough, on a busy worker whose workflow cache thrashes,
to trip the deadlock detector (2 s per workflow task). A validator depends only on its type,
so this converter keeps one cache for the whole process, as pydantic-ai's Temporal integration
does.

Every payload is stored in the workflow's history, so it writes only the fields whose values are
not their defaults: a conversation's history is mostly its models' defaults otherwise (empty
settings, zero usage, unset options). Decoding fills them in again, and reads payloads written
whole (older histories, ``temporalio.contrib.pydantic``'s) the same way, as
``temporalio.contrib.pydantic`` reads these. Two rules follow, each kept where it applies: a
contract's default never changes, since a payload that left it out means it
(``tests/temporal/test_contract_defaults.py``), and a union's tag is always written
(`agentflow.messages.keep_tag`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import temporalio.api.common.v1
from pydantic import BaseModel, PydanticUserError, TypeAdapter
from pydantic_core import SchemaSerializer
from pydantic_core.core_schema import any_schema
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)

MAX_CACHED_TYPE_ADAPTERS = 1024

type_adapter: functools._lru_cache_wrapper[TypeAdapter[Any]] = functools.lru_cache(  # pyright: ignore[reportPrivateUsage]
    maxsize=MAX_CACHED_TYPE_ADAPTERS
)(TypeAdapter)
"""The process-wide ``TypeAdapter`` of each (hashable) type hint; ``cache_info()`` counts use."""


_ANY = SchemaSerializer(any_schema())
"""Serialises a value by what it is at run time (lists, dicts, scalars; models by their own)."""


def compact_json(value: Any) -> bytes:
    """``value`` as JSON without the fields that hold their defaults, at any depth."""
    if isinstance(value, BaseModel):
        return value.__pydantic_serializer__.to_json(value, exclude_defaults=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # A standard-library dataclass knows its defaults only through its type's schema; one
        # whose schema pydantic cannot build (an annotation it cannot resolve) is written whole.
        try:
            return type_adapter(type(value)).serializer.to_json(value, exclude_defaults=True)
        except PydanticUserError:
            pass
    return _ANY.to_json(value, exclude_defaults=True)


class SharedPydanticJSONConverter(PydanticJSONPlainPayloadConverter):
    """temporalio's pydantic JSON converter, reading with `type_adapter`, writing `compact_json`."""

    def __init__(self) -> None:
        # The instance's own cache is off: every instance uses the shared one.
        super().__init__(max_cached_type_adapters=0)

    def to_payload(self, value: Any) -> temporalio.api.common.v1.Payload | None:
        return temporalio.api.common.v1.Payload(
            metadata={"encoding": self.encoding.encode()}, data=compact_json(value)
        )

    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        hint: Any = type_hint if type_hint is not None else Any
        try:
            adapter = type_adapter(hint)
        except TypeError:
            try:
                hash(hint)
            except TypeError:  # an unhashable hint cannot be cached: build it once here
                adapter = TypeAdapter(hint)
            else:
                raise
        return adapter.validator.validate_json(payload.data)


_JSON_CONVERTER = SharedPydanticJSONConverter()
"""One for the process, as temporalio shares its default converters: building one builds a
pydantic serializer, and temporalio builds a payload converter for every workflow run it loads.
It keeps nothing of any run's."""


class AgentflowPayloadConverter(CompositePayloadConverter):
    """The default converters, with JSON through `SharedPydanticJSONConverter`."""

    def __init__(self) -> None:
        super().__init__(*_converters(DefaultPayloadConverter.default_encoding_payload_converters))


@functools.lru_cache(maxsize=4)
def _converters(
    defaults: tuple[EncodingPayloadConverter, ...],
) -> tuple[EncodingPayloadConverter, ...]:
    """The default converters with ours for JSON, for each tuple of defaults.

    temporalio builds a payload converter for every workflow run it loads, and again for each
    serialization context: tens of times per conversation.
    """
    return tuple(
        _JSON_CONVERTER if isinstance(c, JSONPlainPayloadConverter) else c for c in defaults
    )


data_converter = DataConverter(payload_converter_class=AgentflowPayloadConverter)
"""What [`agentflow.temporal.connect`][] gives every client (and so every worker)."""
