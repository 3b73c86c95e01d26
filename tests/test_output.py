"""Structured output: the final answer is validated, retried with the errors, typed, bounded."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agentflow import (
    Agent,
    Allow,
    ConfigurationError,
    Deny,
    Limits,
    OutputUnavailable,
    RunContext,
    precondition,
    tool,
)
from agentflow.messages import Message, ModelRequest, ModelResponse, TextBlock, ToolResultBlock
from agentflow.output import NOT_ALONE, OUTPUT_TOOL, TEXT_NOT_ACCEPTED, OutputSpec
from agentflow.testing import FunctionModel, ScriptedModel, TestModel, tool_call, tool_calls


class Trip(BaseModel):
    """A proposed trip."""

    city: str
    nights: int = Field(ge=1, le=30)


def _alternates(messages: list[Message]) -> bool:
    """Roles alternate and every tool_use of an assistant turn is answered in the next one."""
    for before, after in itertools.pairwise(messages):
        if before.role == after.role:
            return False
        ids = {c.id for c in before.tool_calls}
        answered = {b.tool_use_id for b in after.content if isinstance(b, ToolResultBlock)}
        if ids and ids != answered:
            return False
    return messages[0].role == "user"


async def test_a_valid_answer_is_the_typed_output() -> None:
    model = ScriptedModel([tool_call(OUTPUT_TOOL, city="Zurich", nights=2)])
    agent = Agent(model, output_type=Trip)
    result = await agent.run("plan a trip")
    assert result.status == "completed"
    assert result.output == Trip(city="Zurich", nights=2)
    assert isinstance(result.output, Trip)
    assert result.text == '{"city":"Zurich","nights":2}'
    # The model was offered the output tool with the type's schema.
    (definition,) = model.requests[0].tools
    assert definition.name == OUTPUT_TOOL
    assert definition.input_schema["required"] == ["city", "nights"]
    assert "A proposed trip." in definition.description
    assert _alternates(result.messages)


async def test_an_invalid_answer_goes_back_with_its_errors_and_the_retry_is_accepted() -> None:
    model = ScriptedModel(
        [
            tool_call(OUTPUT_TOOL, city="Zurich", nights=90),
            tool_call(OUTPUT_TOOL, city="Zurich", nights=3),
        ]
    )
    result = await Agent(model, output_type=Trip).run("plan a trip")
    assert result.output == Trip(city="Zurich", nights=3)
    feedback = model.requests[1].messages[-1].content[0]
    assert isinstance(feedback, ToolResultBlock)
    assert feedback.is_error
    assert "nights" in feedback.content
    assert "less than or equal to 30" in feedback.content
    assert _alternates(result.messages)


async def test_an_answer_that_never_validates_ends_the_run_without_an_output() -> None:
    bad = tool_call(OUTPUT_TOOL, city="Zurich", nights=0)
    model = ScriptedModel([bad] * 10)
    agent = Agent(model, output_type=Trip, limits=Limits(max_retries=2))
    result = await agent.run("plan a trip")
    assert result.status == "tool_retries"
    assert len(model.requests) == 3
    with pytest.raises(OutputUnavailable, match="tool_retries"):
        _ = result.output
    assert "invalid tool calls" in result.text
    assert _alternates(result.messages)


async def test_a_text_answer_is_refused_and_the_model_asked_for_the_tool() -> None:
    model = ScriptedModel(["Zurich, two nights.", tool_call(OUTPUT_TOOL, city="Zurich", nights=2)])
    result = await Agent(model, output_type=Trip).run("plan a trip")
    assert result.output == Trip(city="Zurich", nights=2)
    told = model.requests[1].messages[-1]
    assert told.role == "user"
    assert told.text == TEXT_NOT_ACCEPTED
    # What the user said is still what rules read.
    assert result.state.latest_user_message == "plan a trip"
    assert _alternates(result.messages)


async def test_text_answers_forever_are_bounded() -> None:
    model = ScriptedModel(["no"] * 10)
    result = await Agent(model, output_type=Trip, limits=Limits(max_retries=1)).run("plan")
    assert result.status == "tool_retries"
    assert len(model.requests) == 2
    with pytest.raises(OutputUnavailable):
        _ = result.output


async def test_an_answer_given_with_other_calls_waits_for_them_and_never_skips_a_rule() -> None:
    booked: list[str] = []

    @precondition
    def no_paris(ctx: RunContext[None], args: Any) -> Deny | Allow:
        """Paris is never booked."""
        return Deny("Paris is out of policy") if args.city == "Paris" else Allow()

    @tool(requires=no_paris, side_effects=True)
    def book(city: str) -> str:
        """Book a hotel."""
        booked.append(city)
        return f"booked {city}"

    model = ScriptedModel(
        [
            tool_calls(
                ("book", {"city": "Paris"}, "b1"),
                (OUTPUT_TOOL, {"city": "Paris", "nights": 2}, "o1"),
            ),
            tool_call(OUTPUT_TOOL, city="Zurich", nights=2),
        ]
    )
    result = await Agent(model, tools=[book], output_type=Trip).run("book Paris")
    assert booked == []
    answers = {
        b.tool_use_id: b.content
        for b in model.requests[1].messages[-1].content
        if isinstance(b, ToolResultBlock)
    }
    assert "Paris is out of policy" in answers["b1_1"]
    assert answers["o1_1"] == NOT_ALONE
    assert result.output == Trip(city="Zurich", nights=2)
    assert _alternates(result.messages)


async def test_the_conversation_goes_on_after_a_structured_answer() -> None:
    model = ScriptedModel(
        [
            tool_call(OUTPUT_TOOL, city="Zurich", nights=2),
            tool_call(OUTPUT_TOOL, city="Bern", nights=1),
        ]
    )
    agent = Agent(model, output_type=Trip)
    first = await agent.run("plan a trip")
    second = await agent.run("shorter, in Bern", state=first.state)
    assert second.output == Trip(city="Bern", nights=1)
    assert [m.role for m in second.messages] == ["user", "assistant", "user", "assistant"] * 2
    assert second.messages[3].text == first.text
    assert second.messages[4].text == "shorter, in Bern"
    assert _alternates(second.messages)


async def test_non_object_types_are_wrapped_in_a_response_field() -> None:
    model = ScriptedModel(
        [tool_call(OUTPUT_TOOL, response=["a", 1]), tool_call(OUTPUT_TOOL, response=["a", "b"])]
    )
    agent = Agent(model, output_type=list[str])
    result = await agent.run("two letters")
    assert result.output == ["a", "b"]
    schema = model.requests[0].tools[0].input_schema
    assert schema["properties"]["response"]["type"] == "array"
    with pytest.raises(Exception, match="response"):
        OutputSpec(int).validate({"response": 1, "extra": 2})


async def test_a_huge_or_malformed_answer_is_refused_not_validated() -> None:
    huge = tool_call(OUTPUT_TOOL, city="x" * 100_000, nights=1)
    model = ScriptedModel([huge, tool_call(OUTPUT_TOOL, "not an object"), "x", "y"])
    result = await Agent(model, output_type=Trip, limits=Limits(max_retries=3)).run("go")
    assert result.status == "tool_retries"
    errors = [
        b.content
        for r in model.requests[1:3]
        for b in r.messages[-1].content
        if isinstance(b, ToolResultBlock)
    ]
    assert "exceeds" in errors[0]
    assert "JSON object" in errors[1]


def test_a_tool_named_like_the_output_tool_is_refused() -> None:
    @tool
    def final_result(city: str) -> str:
        """Clash."""
        return city

    with pytest.raises(ConfigurationError, match=OUTPUT_TOOL):
        Agent(TestModel(), tools=[final_result], output_type=Trip)


async def test_a_cut_off_answer_has_no_output() -> None:
    cut = ModelResponse(content=(TextBlock(text='{"city": "Zu'),), stop_reason="max_tokens")
    result = await Agent(ScriptedModel([cut]), output_type=Trip).run("go")
    assert result.status == "max_tokens"
    with pytest.raises(OutputUnavailable):
        _ = result.output


async def test_a_text_agent_keeps_its_output_on_every_status() -> None:
    @tool
    def weather(city: str) -> str:
        """Weather."""
        return "sunny"

    model = ScriptedModel([tool_call("weather", city="Bern")] * 3)
    result = await Agent(model, tools=[weather], limits=Limits(max_steps=1)).run("x")
    assert result.status == "max_steps"
    assert result.output == result.text
    assert "more steps" in result.output


async def test_test_model_answers_through_the_output_tool_after_the_tools() -> None:
    @tool
    def weather(city: str) -> str:
        """Weather."""
        return "sunny"

    model = TestModel(arguments={OUTPUT_TOOL: {"city": "Zurich", "nights": 2}})
    result = await Agent(model, tools=[weather], output_type=Trip).run("go")
    assert result.output == Trip(city="Zurich", nights=2)
    first: ModelRequest = model.requests[0]
    assert {t.name for t in first.tools} == {"weather", OUTPUT_TOOL}
    assert len(model.requests) == 2


async def test_concurrent_runs_of_one_structured_agent_keep_their_answers_apart() -> None:
    def answer(request: ModelRequest) -> ModelResponse:
        city = request.messages[0].text
        return tool_call(OUTPUT_TOOL, city=city, nights=1)

    agent = Agent(FunctionModel(answer), output_type=Trip)
    results = await asyncio.gather(*(agent.run(c) for c in ("Bern", "Basel", "Chur")))
    assert [r.output.city for r in results] == ["Bern", "Basel", "Chur"]
