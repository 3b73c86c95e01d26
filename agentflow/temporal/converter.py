"""agentflow's Temporal data converter: pydantic, with one validator cache per process.

temporalio builds a new payload converter for every workflow instance it loads (its
``payload_converter_class()``), and its pydantic converter keeps the ``TypeAdapter`` cache on
that instance. So each workflow a worker loads, and loads again after a cache eviction, rebuilds
the validators of the types it decodes; for agentflow's message models (``ModelResponse`` and
the content blocks under it) that is slow enough, on a busy worker whose workflow cache thrashes,
to trip the deadlock detector (2 s per workflow task). A validator depends only on its type,
so this converter keeps one cache for the whole process, as pydantic-ai's Temporal integration
does. The JSON on the wire is the same as ``temporalio.contrib.pydantic``'s, so both read it.
"""

from __future__ import annotations

import functools
from typing import Any

import temporalio.api.common.v1
from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

MAX_CACHED_TYPE_ADAPTERS = 1024

type_adapter: functools._lru_cache_wrapper[TypeAdapter[Any]] = functools.lru_cache(  # pyright: ignore[reportPrivateUsage]
    maxsize=MAX_CACHED_TYPE_ADAPTERS
)(TypeAdapter)
"""The process-wide ``TypeAdapter`` of each (hashable) type hint; ``cache_info()`` counts use."""


class SharedPydanticJSONConverter(PydanticJSONPlainPayloadConverter):
    """temporalio's pydantic JSON converter, decoding through `type_adapter`."""

    def __init__(self) -> None:
        # The instance's own cache is off: every instance uses the shared one.
        super().__init__(max_cached_type_adapters=0)

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
        return adapter.validate_json(payload.data)


_JSON_CONVERTER = SharedPydanticJSONConverter()
"""One for the process, as temporalio shares its default converters: building one builds a
pydantic serializer, and temporalio builds a payload converter for every workflow run it loads.
It keeps nothing of any run's."""


class AgentflowPayloadConverter(CompositePayloadConverter):
    """The default converters, with JSON through `SharedPydanticJSONConverter`."""

    def __init__(self) -> None:
        super().__init__(
            *(
                _JSON_CONVERTER if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


data_converter = DataConverter(payload_converter_class=AgentflowPayloadConverter)
"""What [`agentflow.temporal.connect`][] gives every client (and so every worker)."""
