"""A typed final answer: validated, sent back with its errors until it is right."""

import asyncio

from pydantic import BaseModel, Field

from agentflow import Agent
from agentflow.testing import ScriptedModel, tool_call


class Trip(BaseModel):
    """A proposed trip."""

    city: str
    nights: int = Field(ge=1, le=30)


async def main() -> None:
    model = ScriptedModel(
        [
            tool_call("final_result", city="Zurich", nights=90),  # refused: more than 30
            tool_call("final_result", city="Zurich", nights=3),
        ]
    )
    agent = Agent(model, output_type=Trip)
    result = await agent.run("Plan three nights in Zurich")
    trip: Trip = result.output  # typed: RunResult[Trip]
    print(result.status, "-", trip.city, trip.nights)
    print("the model was told:", model.requests[1].messages[-1].content[0].content.splitlines()[1])


asyncio.run(main())
