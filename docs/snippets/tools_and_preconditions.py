"""A typed tool, a precondition in code, and a model that tries to get around it."""

import asyncio
from datetime import date
from typing import Annotated

from pydantic import Field

from agentflow import Agent, Allow, Deny, RunContext, precondition, tool
from agentflow.testing import ScriptedModel, tool_call

booked: list[str] = []


@precondition
def weekdays_only(ctx: RunContext[None], args) -> Allow | Deny:
    """Meeting rooms are booked on weekdays only."""
    if args.day.weekday() >= 5:
        return Deny(f"{args.day} is a weekend day")
    return Allow()


@tool(requires=weekdays_only, side_effects=True)
def book_room(
    room: Annotated[str, Field(pattern=r"^[A-Z]\d{3}$")],
    day: date,
) -> str:
    """Book a meeting room for a day.

    Args:
        room: the room code, e.g. B204.
    """
    booked.append(f"{room} {day.isoformat()}")
    return "booked"


async def main() -> None:
    model = ScriptedModel(
        [
            tool_call("book_room", room="B204", day="2026-12-05"),  # a Saturday: denied
            tool_call("book_room", room="lobby", day="2026-12-07"),  # not a room code: invalid
            tool_call("book_room", room="B204", day="2026-12-07"),  # a Monday: runs
            "B204 is yours on Monday.",
        ]
    )
    agent = Agent(model, tools=[book_room])
    result = await agent.run("Book B204 for the offsite")
    for message in result.messages:
        for block in message.content:
            if block.type == "tool_result":
                print("error:" if block.is_error else "ok:", block.content.splitlines()[0])
    print(result.output)
    assert booked == ["B204 2026-12-07"]


asyncio.run(main())
