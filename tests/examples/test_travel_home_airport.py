"""A trip without an origin starts at the employee's home airport, from the company database."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from agentflow import Agent
from agentflow.messages import Message, ToolResultBlock, ToolUseBlock
from agentflow.testing import FunctionModel, ScriptedModel, tool_call
from examples.travel.agent import SYSTEM
from examples.travel.company import EmployeeProfile, save_profiles
from examples.travel.planner import plan
from examples.travel.tools import TOOLS, TravelDeps
from tests.examples.travel_scenario_support import company


@pytest.fixture
def deps(tmp_path: Path) -> TravelDeps:
    return company(tmp_path)


def results(messages: Sequence[Message]) -> list[ToolResultBlock]:
    return [b for m in messages for b in m.content if isinstance(b, ToolResultBlock)]


def searched_from(messages: Sequence[Message]) -> set[str]:
    """The origins of the offers that the searches in a transcript returned."""
    return {
        offer["origin"]
        for block in results(messages)
        if not block.is_error
        for offer in json.loads(block.content)
    }


async def test_the_offline_planner_searches_from_the_home_airport(deps: TravelDeps) -> None:
    agent = Agent(FunctionModel(plan), tools=TOOLS, system=SYSTEM)
    result = await agent.run("I need a flight to LHR on 2026-12-14", deps=deps, user="dana")
    (call,) = [b for m in result.messages for b in m.content if isinstance(b, ToolUseBlock)]
    assert call.name == "search_flights" and "origin" not in call.input
    assert searched_from(result.messages) == {"FRA"}  # dana's office is Frankfurt
    assert "FRA → LHR" in result.output


async def test_a_moved_employee_flies_from_the_new_home(deps: TravelDeps) -> None:
    moved = EmployeeProfile(
        employee_id="alice",
        home_airport="JFK",
        office="New York",
        department="Sales",
        cost_centre="NY-100",
    )
    save_profiles(deps.engine, [moved])
    model = ScriptedModel([tool_call("search_flights", destination="LHR", day="2026-12-14"), "ok"])
    result = await Agent(model, tools=TOOLS).run("to London", deps=deps, user="alice")
    assert searched_from(result.messages) == {"JFK"}


async def test_without_a_home_airport_the_model_is_asked_for_an_origin(deps: TravelDeps) -> None:
    model = ScriptedModel([tool_call("search_flights", destination="LHR", day="2026-12-14"), "ok"])
    result = await Agent(model, tools=TOOLS).run("to London", deps=deps, user="nobody")
    (error,) = results(result.messages)
    assert error.is_error and "no home airport on file" in str(error.content)
