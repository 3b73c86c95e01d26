"""Step 4: the tutorial's travel agent in-process, on a scripted model that tries everything."""

import asyncio
import tempfile
from collections.abc import Sequence

from tutorial_travel import open_company, travel_agent

from agentflow import Message
from agentflow.testing import ScriptedModel, tool_call


def show_tool_results(messages: Sequence[Message]) -> None:
    """What the model got back from each tool call."""
    for message in messages:
        for block in message.content:
            if block.type == "tool_result":
                print("error:" if block.is_error else "ok:", block.content.splitlines()[0])


async def main(database_url: str) -> None:
    company = open_company(database_url)
    model = ScriptedModel(
        [
            tool_call("search_flights", origin="Zurich", destination="LHR"),  # not a code
            tool_call("search_flights", origin="ZRH", destination="LHR", cabin="business"),
            tool_call("book_flight", offer_id="LX999-F"),  # made up: denied
            tool_call("book_flight", offer_id="LX38-J"),  # above the hard cap: denied
            tool_call("book_flight", offer_id="LX318-J"),  # 1.7 h in business: needs bob
            "Booked LX318-J once bob approved.",
        ]
    )
    agent = travel_agent(model)

    paused = await agent.run("Business class to London, please", deps=company, user="alice")
    show_tool_results(paused.messages)
    (request,) = paused.pending_approvals
    print(paused.status, "-", request.reasons[0], "- approvers", list(request.approvers))
    assert company.bookings == {}  # nothing is booked while the approval is pending
    seen = len(paused.messages)

    decision = request.decide("approved", approver="bob")
    done = await agent.resume(paused, [decision], deps=company, user="alice")
    show_tool_results(done.messages[seen:])
    print(done.status, "-", done.output)
    assert list(company.bookings.values()) == ["LX318-J"]


with tempfile.TemporaryDirectory() as folder:
    asyncio.run(main(f"sqlite:///{folder}/company.db"))
