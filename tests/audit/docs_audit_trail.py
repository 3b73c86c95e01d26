"""The audit trail of a durable conversation: record it, check it, read it (docs/audit.md)."""

import asyncio
import subprocess
import sys
import tempfile

from agentflow import Agent, Allow, NeedsApproval, RunContext, precondition, tool
from agentflow.audit import configure_tracing
from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker
from agentflow.testing import ScriptedModel, tool_call


@precondition
def small_or_approved(ctx: RunContext[None], args) -> Allow | NeedsApproval:
    """Refunds above 100 EUR need a team lead's approval."""
    if args.amount > 100:
        return NeedsApproval(f"refund of {args.amount} EUR is above 100 EUR", approvers=["lee"])
    return Allow()


@tool(requires=small_or_approved, side_effects=True)
def refund(order: str, amount: float) -> str:
    """Refund an order."""
    return f"refunded {amount} EUR on {order}"


model = ScriptedModel([tool_call("refund", order="A-17", amount=240.0), "Refund done."])
agent = Agent(model, tools=[refund], name="refunds")


async def main(database_url: str) -> str:
    tracing = configure_tracing(database_url=database_url)  # + OTLP if OTEL_EXPORTER_OTLP_...
    async with DevServer() as server:
        client = await server.client()
        async with create_worker(client, [agent], task_queue="docs", tracer_provider=tracing):
            agents = AgentClient(client, task_queue="docs", tracer_provider=tracing)
            conversation = await agents.start_conversation("refunds", user="sam")
            reply = await agents.send(
                conversation, "Refund A-17, paid with 4111 1111 1111 1111", sender="sam"
            )
            (request,) = reply.approvals
            vote = ApprovalVote(digest=request.digest, approver="lee", approve=True)
            await agents.decide(f"{conversation}/approval/{request.tool_call_id}", vote)
            print((await agents.wait_for_turn(conversation, reply.turn)).output)
    tracing.shutdown()  # writes the last spans
    return conversation


with tempfile.TemporaryDirectory() as folder:
    url = f"sqlite:///{folder}/audit.db"
    conversation = asyncio.run(main(url))
    cli = [sys.executable, "-m", "agentflow.cli"]
    subprocess.run([*cli, "audit", "verify", "--database-url", url], check=True)
    subprocess.run([*cli, "trace", conversation, "--database-url", url], check=True)
