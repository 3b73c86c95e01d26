"""Two payments in one turn, a message that takes a confirmation back, a decision used once."""

import asyncio
from decimal import Decimal

from agentflow import Agent, Allow, Deny, RunContext, precondition, tool
from agentflow.testing import ScriptedModel, tool_call, tool_calls


class Wallet:
    def __init__(self, balance: Decimal) -> None:
        self.balance = balance


@precondition
def covered(ctx: RunContext[Wallet], args) -> Allow | Deny:
    """The balance must cover the payment."""
    if ctx.deps.balance >= args.amount:
        return Allow()
    return Deny(f"the balance is {ctx.deps.balance} EUR")


@precondition
def asked_to_pay(ctx: RunContext[Wallet], args) -> Allow | Deny:
    """The user's latest message must ask to pay, and not take it back."""
    said = ctx.latest_user_message.lower()
    if "pay" in said and "not" not in said:
        return Allow()
    return Deny("the user has not asked to pay")


@tool(requires=covered & asked_to_pay, side_effects=True)
def pay(ctx: RunContext[Wallet], amount: Decimal) -> str:
    """Pay an amount from the wallet."""
    ctx.deps.balance -= amount
    return f"paid {amount} EUR"


async def main() -> None:
    wallet = Wallet(Decimal("100"))
    # The model asks for two payments at once: they run one after the other.
    twice = tool_calls(("pay", {"amount": "80"}, "a"), ("pay", {"amount": "80"}, "b"))
    agent = Agent(ScriptedModel([twice, "Done."]), tools=[pay])
    result = await agent.run("pay both invoices", deps=wallet)
    for block in result.messages[2].content:
        print("error:" if block.is_error else "ok:", block.content)

    # The user takes it back: a hijacked model pays anyway, the rule reads the new message.
    agent = Agent(ScriptedModel([tool_call("pay", amount="10"), "Stopped."]), tools=[pay])
    later = await agent.run("do not pay anything", deps=wallet, state=result.state)
    print(later.messages[-2].content[0].content)
    print("balance:", wallet.balance)


asyncio.run(main())
