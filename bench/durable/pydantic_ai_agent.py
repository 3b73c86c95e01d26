"""Pydantic AI's durable agent: the agent of ``bench/peers/pydantic_ai_bench.py`` made durable.

Same ``FunctionModel`` function and tool bodies as the in-process bench, on a regular ``Agent``
with the ``TemporalDurability`` capability: the documented way in pydantic-ai 2.x, where the
``TemporalAgent`` wrapper is deprecated. Each model request and each tool call is an activity.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalDurability
from pydantic_ai.models.function import FunctionModel

from bench.peers import pydantic_ai_bench as peer

AGENT: Agent[None, Any] = Agent(
    FunctionModel(peer.fake_model),
    name="booker",
    tools=[peer.search_flights, peer.check_policy, peer.book_flight],
    capabilities=[TemporalDurability()],
)
