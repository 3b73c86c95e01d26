"""An approval in-process: the run pauses, a human decides, the run resumes."""

import asyncio
from decimal import Decimal

from agentflow import Agent, Allow, NeedsApproval, RunContext, precondition, tool
from agentflow.testing import ScriptedModel, tool_call

paid: list[Decimal] = []


@precondition
def small_or_approved(ctx: RunContext[None], args) -> Allow | NeedsApproval:
    """Refunds above 100 EUR need a team lead's approval."""
    if args.amount > 100:
        return NeedsApproval(f"refund of {args.amount} EUR is above 100 EUR", approvers=["lee"])
    return Allow()


@tool(requires=small_or_approved, side_effects=True)
def refund(order: str, amount: Decimal) -> str:
    """Refund an order."""
    paid.append(amount)
    return f"refunded {amount} EUR on {order}"


async def main() -> None:
    model = ScriptedModel([tool_call("refund", order="A-17", amount=240.0), "Refund done."])
    agent = Agent(model, tools=[refund])

    paused = await agent.run("Refund order A-17 in full", user="sam")
    (request,) = paused.pending_approvals
    print(paused.status, "-", request.reasons[0], "- digest", request.digest[:12])
    assert paid == []

    decision = request.decide("approved", approver="lee")
    done = await agent.resume(paused, [decision], user="sam")
    print(done.status, "-", done.output)
    assert paid == [Decimal("240")]


asyncio.run(main())
