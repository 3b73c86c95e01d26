"""An approver edits the call: a smaller refund, checked again by the same rules."""

import asyncio
from decimal import Decimal

from agentflow import (
    Agent,
    Allow,
    ApprovalError,
    Deny,
    NeedsApproval,
    RunContext,
    precondition,
    tool,
)
from agentflow.messages import ToolResultBlock
from agentflow.testing import ScriptedModel, tool_call

paid: list[Decimal] = []


@precondition
def refund_policy(ctx: RunContext[None], args) -> Allow | Deny | NeedsApproval:
    """Refunds above 100 EUR need a team lead, who may lower them; above 500 EUR, never."""
    if args.amount > 500:
        return Deny(f"refund of {args.amount} EUR is above the 500 EUR cap")
    if args.amount > 100:
        return NeedsApproval(
            f"refund of {args.amount} EUR is above 100 EUR", approvers=["lee"], editable=["amount"]
        )
    return Allow()


@tool(requires=refund_policy, side_effects=True)
def refund(order: str, amount: Decimal) -> str:
    """Refund an order."""
    paid.append(amount)
    return f"refunded {amount} EUR on {order}"


async def main() -> None:
    model = ScriptedModel([tool_call("refund", order="A-17", amount=240.0), "Refund done."])
    agent = Agent(model, tools=[refund])
    paused = await agent.run("Refund order A-17 in full", user="sam")
    (request,) = paused.pending_approvals

    try:  # the edited call is a new call: the same rules judge it, the cap holds
        await agent.approve_edited(paused, request, {"amount": 900}, approver="lee")
    except ApprovalError as exc:
        print("refused:", exc)

    decision = await agent.approve_edited(paused, request, {"amount": 120}, approver="lee")
    print("approved:", decision.arguments, "- a new digest:", decision.digest != request.digest)
    done = await agent.resume(paused, [decision], user="sam")
    result = next(
        block
        for message in done.state.messages
        for block in message.content
        if isinstance(block, ToolResultBlock)
    )
    print("the model read:", result.content)
    assert paid == [Decimal("120")]


asyncio.run(main())
