"""The data converter every agentflow client and worker gets: one validator cache per process.

temporalio makes a payload converter per workflow instance; with its stock pydantic converter
each instance (and each reload after a cache eviction) rebuilt the validators of ModelResponse
and friends. Here two converters, and a worker that keeps no workflow cached, decode through
the same adapters.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from pydantic import TypeAdapter
from temporalio.contrib.pydantic import pydantic_data_converter

from agentflow.messages import ModelResponse, TextBlock, ToolResultBlock, Usage
from agentflow.temporal import AgentClient, DevServer, converter, create_worker
from agentflow.temporal.converter import AgentflowPayloadConverter, data_converter, type_adapter
from tests.audit.support import Bookings, travel_agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

RESPONSE = ModelResponse(
    content=(TextBlock(text="Booked."),), stop_reason="end_turn", usage=Usage(input_tokens=3)
)


async def test_two_converters_share_one_validator() -> None:
    first, second = AgentflowPayloadConverter(), data_converter.payload_converter_class()
    assert first is not second
    (payload,) = first.to_payloads([RESPONSE])
    before = type_adapter.cache_info()
    assert first.from_payloads([payload], [ModelResponse]) == [RESPONSE]
    assert second.from_payloads([payload], [ModelResponse]) == [RESPONSE]
    after = type_adapter.cache_info()
    assert after.hits >= before.hits + 1  # the second decode reused the first one's adapter
    assert type_adapter(ModelResponse) is type_adapter(ModelResponse)


async def test_a_converter_per_workflow_run_builds_no_serializer() -> None:
    """temporalio builds a payload converter for every workflow run: it reuses the JSON one."""
    first, second = AgentflowPayloadConverter(), data_converter.payload_converter_class()
    assert isinstance(second, AgentflowPayloadConverter)
    assert first.converters[b"json/plain"] is second.converters[b"json/plain"]


async def test_unhashable_and_missing_hints_still_decode() -> None:
    json_converter = AgentflowPayloadConverter()
    (payload,) = json_converter.to_payloads([{"a": [1, 2]}])
    assert json_converter.from_payloads([payload]) == [{"a": [1, 2]}]
    unhashable: Any = Annotated[dict[str, list[int]], {"metadata": "a dict: unhashable"}]
    with pytest.raises(TypeError):
        hash(unhashable)
    assert json_converter.from_payloads([payload], [unhashable]) == [{"a": [1, 2]}]
    with pytest.raises(Exception, match="validation error"):
        json_converter.from_payloads([payload], [ModelResponse])


async def test_workflows_reloaded_on_every_task_build_no_new_validators(
    dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await dev_server.client()
    assert client.data_converter.payload_converter_class is AgentflowPayloadConverter
    # Which adapter each decode used. ModelResponse is decoded only inside workflows (the
    # model activity's result), so its lookups are the workflow instances' own.
    used: list[tuple[Any, TypeAdapter[Any]]] = []

    def spy(hint: Any) -> TypeAdapter[Any]:
        adapter = type_adapter(hint)
        used.append((hint, adapter))
        return adapter

    monkeypatch.setattr(converter, "type_adapter", spy)
    queue = f"converter-{uuid.uuid4().hex}"
    agent = travel_agent(f"travel-{uuid.uuid4().hex[:8]}")
    bookings = Bookings()
    # No workflow stays cached: every workflow task builds a new instance, and a new converter.
    async with create_worker(
        client,
        [agent],
        task_queue=queue,
        deps={agent.name: lambda: bookings},
        max_cached_workflows=0,
    ):
        agents = AgentClient(client, task_queue=queue)
        warm = await agents.start_conversation(agent.name, user="carol")
        assert (
            await agents.send(warm, "A flight to Geneva please", sender="carol")
        ).status == "completed"
        before = type_adapter.cache_info()
        again = await agents.start_conversation(agent.name, user="carol")
        assert (
            await agents.send(again, "A flight to Geneva please", sender="carol")
        ).status == "completed"
        after = type_adapter.cache_info()
    responses = {id(adapter) for hint, adapter in used if hint is ModelResponse}
    assert len([hint for hint, _ in used if hint is ModelResponse]) >= 6  # 3 calls x 2 runs
    assert responses == {id(type_adapter(ModelResponse))}  # one validator for every instance
    assert after.misses == before.misses  # the second conversation built nothing new


async def test_a_payload_leaves_out_defaults_and_keeps_each_union_s_tag() -> None:
    converter = AgentflowPayloadConverter()
    response = ModelResponse(
        content=(TextBlock(text="Booked."), ToolResultBlock(tool_use_id="t", content="ok"))
    )
    (payload,) = converter.to_payloads([response])
    assert json.loads(payload.data) == {
        "content": [
            {"type": "text", "text": "Booked."},
            {"type": "tool_result", "tool_use_id": "t", "content": "ok"},
        ]
    }
    assert converter.from_payloads([payload], [ModelResponse]) == [response]
    (whole,) = pydantic_data_converter.payload_converter.to_payloads([response])
    assert len(whole.data) > len(payload.data)
    assert converter.from_payloads([whole], [ModelResponse]) == [response]


@dataclass
class _Unresolved:
    """A dataclass whose annotation pydantic cannot resolve: its schema cannot be built."""

    a: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821  # pyright: ignore[reportUndefinedVariable]
    b: int = 0


async def test_a_dataclass_pydantic_cannot_describe_is_written_whole() -> None:
    (payload,) = AgentflowPayloadConverter().to_payloads([_Unresolved(a=1)])
    assert json.loads(payload.data) == {"a": 1, "b": 0}
