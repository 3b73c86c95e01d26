"""The OpenAI Agents SDK on Temporal: tool activities and the model provider of the worker.

The model is ``ScriptedModel`` of ``bench/peers/openai_agents_bench.py``, served by a custom
``ModelProvider`` inside the plugin's model activity; the tools are Temporal activities (the
plugin's ``activity_as_tool``), with the same bodies as the in-process bench.
"""

from __future__ import annotations

from typing import Any

from agents import Model, ModelProvider
from temporalio import activity

from bench import harness
from bench.peers.openai_agents_bench import ScriptedModel

METER = harness.METER


class ScriptedProvider(ModelProvider):
    def get_model(self, model_name: str | None) -> Model:
        return ScriptedModel()


@activity.defn
async def search_flights(origin: str, dest: str, date: str) -> list[dict[str, Any]]:
    """Search flights from origin to dest on date (YYYY-MM-DD)."""
    out = harness.search_flights(origin, dest, date)
    METER.tool_calls += 1
    return out


@activity.defn
async def check_policy(flight_id: str, price: float) -> dict[str, Any]:
    """Check whether a flight at this price is within travel policy."""
    out = harness.check_policy(flight_id, price)
    METER.tool_calls += 1
    return out


@activity.defn
async def book_flight(flight_id: str) -> dict[str, Any]:
    """Book the flight."""
    out = harness.book_flight(flight_id)
    METER.tool_calls += 1
    return out


ACTIVITIES = [search_flights, check_policy, book_flight]
