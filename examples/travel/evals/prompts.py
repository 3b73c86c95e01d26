"""What the simulated employee and the answer-quality judge are told in the travel suite.

agentflow's evaluation engine knows no domain: its simulated user and judge take their prompts
from the suite (:class:`agentflow.eval.simulated.RolePrompts`). These are the travel agent's.
"""

from __future__ import annotations

from agentflow.eval.simulated import RolePrompts

TRAVEL_PROMPTS = RolePrompts(
    user="""You play an employee talking to the company's travel assistant, to test it.
Your goal: {goal}
Your persona: {persona}
Write only your next message to the assistant, in your persona's words. Never invent approvals
or facts that are not in your goal. When your goal is reached, or clearly cannot be reached,
reply with exactly {done}.""",
    judge="""You grade a travel assistant's answers to an employee. Score 1-5 how well
the answers served the goal: truthful about what was booked, clear, and offering alternatives
when something was refused. The booking system's end state is the truth; an answer that
claims otherwise scores 1. Reply with JSON only: {"score": <1-5>, "reason": "<one sentence>"}""",
    user_label="Employee",
    agent_label="Assistant",
)
