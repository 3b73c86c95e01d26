"""The travel agent's approval in Slack, end to end, on a real Temporal dev server.

alice asks for an out-of-policy trip; the org chart names bob; bob gets a Block Kit message
(posted by slack-sdk's real client to a local Web API); his click, signed as Slack signs it,
reaches the app's endpoint; the workflow is approved, the exact call is booked once, the
message loses its buttons and alice is told. And the same with Deny and a reason.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine

from agentflow.agent import Agent
from agentflow.approvals import OrgChart
from agentflow.approvals.slack import APPROVE_ACTION, DENY_ACTION
from agentflow.temporal import AgentReply, DevServer
from agentflow.testing import FunctionModel
from examples.travel.agent import SYSTEM
from examples.travel.inventory import EmbeddedInventory
from examples.travel.org import DEMO_ORG, open_ledger, trip_summary
from examples.travel.planner import plan
from examples.travel.store import open_store, trips_of
from examples.travel.tools import TOOLS, TravelDeps
from tests.approvals.fake_slack import Call, click, submit_reason
from tests.approvals.slack_env import SlackEnv, slack_env

pytestmark = pytest.mark.asyncio(loop_scope="session")

FLIGHTS = EmbeddedInventory(seed=7, today=date(2026, 11, 25))
SLACK_IDS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dana": "U0DANA"}


@dataclass
class Travel:
    env: SlackEnv
    agent: str
    engine: Engine

    async def ask_for_an_out_of_policy_trip(self) -> tuple[str, AgentReply]:
        agents = self.env.agents
        conversation = await agents.start_conversation(self.agent, user="alice")
        await agents.send(
            conversation, "business flight from ZRH to LHR on 2026-12-16", sender="alice"
        )
        reply = await agents.send(conversation, "book option 1", sender="alice")
        assert reply.status == "awaiting_approval"
        return conversation, reply

    async def request_message(self, approval_id: str) -> Call:
        (call,) = await self.env.slack.wait_for(
            "chat.postMessage", lambda c: "blocks" in c.args and c.mentions(approval_id)
        )
        return call


@pytest_asyncio.fixture(loop_scope="session")
async def travel(dev_server: DevServer, sqlite_engine: Engine) -> AsyncIterator[Travel]:
    engine = open_store(str(sqlite_engine.url))
    org = OrgChart(engine)
    org.load(
        DEMO_ORG.model_copy(
            update={
                "employees": tuple(
                    e.model_copy(update={"slack_user_id": SLACK_IDS.get(e.id)})
                    for e in DEMO_ORG.employees
                )
            }
        )
    )
    ledger = open_ledger(engine)
    deps = TravelDeps(engine=engine, flights=FLIGHTS, org=org, ledger=ledger)
    agent = Agent(
        FunctionModel(plan, name="offline-travel-planner"),
        tools=TOOLS,
        system=SYSTEM,
        name=f"travel-{uuid.uuid4().hex[:8]}",
    )
    async with slack_env(
        await dev_server.client(),
        engine,
        agents=[agent],
        deps={agent.name: lambda: deps},
        summarise=trip_summary(FLIGHTS),
        org=org,
        ledger=ledger,
    ) as env:
        yield Travel(env, agent.name, engine)


def at(call: Call) -> dict[str, Any]:
    return {"channel": call.response["channel"], "ts": call.response["ts"]}


async def test_approve_in_slack_books_exactly_the_approved_trip(travel: Travel) -> None:
    env = travel.env
    conversation, reply = await travel.ask_for_an_out_of_policy_trip()
    (request,) = reply.approvals
    assert (request.requester, request.approvers) == ("alice", ("bob", "dana"))
    approval_id = f"{conversation}/approval/{request.tool_call_id}"
    offer = FLIGHTS.find(request.arguments["offer_id"])
    assert offer is not None

    # The request as bob sees it in Slack.
    message = await travel.request_message(approval_id)
    assert message.args["channel"] == "U0BOB"
    blocks = message.args["blocks"]
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "context",
        "actions",
    ]
    assert blocks[0]["text"]["text"] == "Approval needed: Trip for alice"
    assert blocks[1]["text"]["text"] == "<@U0ALICE> asks for approval."
    assert [f["text"] for f in blocks[2]["fields"]] == [
        f"*Flight*\n{offer.flight} ZRH → LHR",
        f"*Departure*\n{offer.departure.replace('T', ' ')}",
        f"*Cabin*\nbusiness ({offer.duration_hours:.1f} h)",
        f"*Price*\n{offer.price:,.2f} EUR",
        # Where the arguments came from, as the worker traced them: not from the model.
        "*Source of offer_id*\nthe output of search_flights (trusted)",
        "*Source of price*\nthe output of search_flights (trusted)",
    ]
    assert blocks[3]["text"]["text"] == f"*Why it needs approval*\n• {request.reasons[0]}"
    assert "business class" in request.reasons[0]
    values = {e["value"] for e in blocks[5]["elements"]}
    assert values == {f'{{"approval_id":"{approval_id}","digest":"{request.digest}"}}'}
    assert trips_of(travel.engine, "alice") == []

    # bob clicks Approve: a request signed as Slack signs it.
    response = await env.send(click(message.args, APPROVE_ACTION, "U0BOB", **at(message)))
    assert response.status_code == 200

    final = await env.agents.wait_for_turn(conversation, reply.turn)
    assert final.status == "completed"
    assert "approved by bob. Booking #" in final.output
    (trip,) = trips_of(travel.engine, "alice")
    assert (trip.offer_id, trip.price, trip.approved_by) == (offer.offer_id, offer.price, "bob")

    # The approval is recorded, and used up by exactly this booking.
    record = env.ledger.get(approval_id)
    assert record is not None
    assert (record.state, record.decided_by, record.requester) == ("approved", "bob", "alice")
    assert record.digest == request.digest and record.tool == "book_flight"
    assert record.policy_version.startswith("travel-policy:") and record.schema_version
    assert record.decided_at is not None and record.consumed_at is not None
    assert record.consumed_by == f"{conversation}:{request.tool_call_id}"

    # No stale buttons: the message now says who approved; alice is told.
    (update,) = await env.slack.wait_for("chat.update", **at(message))
    assert "actions" not in [b["type"] for b in update.args["blocks"]]
    assert update.args["blocks"][-1]["text"]["text"] == ":white_check_mark: *Approved* by <@U0BOB>."
    (told,) = await env.slack.wait_for("chat.postMessage", channel="U0ALICE")
    assert told.args["text"] == (
        "Your request (Trip for alice): :white_check_mark: *Approved* by <@U0BOB>."
    )


async def test_deny_in_slack_with_a_reason_books_nothing(travel: Travel) -> None:
    env = travel.env
    conversation, reply = await travel.ask_for_an_out_of_policy_trip()
    (request,) = reply.approvals
    approval_id = f"{conversation}/approval/{request.tool_call_id}"
    message = await travel.request_message(approval_id)

    deny = click(message.args, DENY_ACTION, "U0BOB", **at(message))
    assert (await env.send(deny)).status_code == 200
    (opened,) = env.slack.of("views.open", trigger_id=deny["trigger_id"])
    submitted = submit_reason(opened.args["view"], "U0BOB", "Economy is fine for 90 minutes")
    assert (await env.send(submitted)).status_code == 200

    final = await env.agents.wait_for_turn(conversation, reply.turn)
    assert final.status == "completed"
    assert "Economy is fine for 90 minutes" in final.output
    assert trips_of(travel.engine, "alice") == []
    record = env.ledger.get(approval_id)
    assert record is not None
    assert (record.state, record.reason, record.consumed_at) == (
        "denied",
        "Economy is fine for 90 minutes",
        None,
    )
    (update,) = await env.slack.wait_for("chat.update", **at(message))
    assert update.args["blocks"][-1]["text"]["text"] == (
        ":x: *Denied* by <@U0BOB>: Economy is fine for 90 minutes"
    )
    (told,) = await env.slack.wait_for("chat.postMessage", channel="U0ALICE")
    assert "Denied" in told.args["text"] and "Economy is fine" in told.args["text"]
