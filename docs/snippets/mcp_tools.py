"""An MCP server's write tool, guarded by a precondition in code: refused, then approved."""

import asyncio
import sys
from pathlib import Path

from agentflow import Agent, Allow, NeedsApproval, precondition
from agentflow.mcp_tools import MCPServer, StdioServerParameters
from agentflow.testing import ScriptedModel, text_response, tool_call


@precondition
def small_or_approved(ctx, args) -> Allow | NeedsApproval:
    """Refunds above 100 EUR need a team lead's approval."""
    if args.amount > 100:
        return NeedsApproval(f"refund of {args.amount} EUR is above 100 EUR", approvers=["lee"])
    return Allow()


async def main() -> None:
    server = StdioServerParameters(
        command=sys.executable, args=[str(Path(__file__).with_name("mcp_server.py"))]
    )
    async with MCPServer(server) as refunds:
        tools = await refunds.tools(requires={"refund": small_or_approved})
        print([(t.name, "writes" if t.side_effects else "reads") for t in tools])
        model = ScriptedModel(
            [tool_call("refund", order="A-18", amount=240), text_response("Refunded A-18.")]
        )
        agent = Agent(model, tools=tools)
        paused = await agent.run("refund A-18", user="sam")
        print(paused.status, "-", paused.pending_approvals[0].reasons[0])
        approval = paused.pending_approvals[0].approve("lee")
        done = await agent.resume(paused, [approval], user="sam")
        print(done.status, "-", done.messages[-2].content[0].content)


asyncio.run(main())
