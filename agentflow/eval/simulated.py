"""Model-driven roles in an evaluation: a simulated user and an answer-quality judge.

Both ask a model (Claude, when ``ANTHROPIC_API_KEY`` is set) through the same
[`Model`][agentflow.Model] seam as the agent, so tests drive them with a scripted model. What
they are told is a parameter (`RolePrompts`): the engine knows no domain.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import cast

from agentflow.eval.scenario import Scenario
from agentflow.messages import Message, ModelRequest, TextBlock
from agentflow.models.base import Model

DONE = "DONE"

USER_PROMPT = """You play a user talking to an assistant, to test it.
Your goal: {goal}
Your persona: {persona}
Write only your next message to the assistant, in your persona's words. Never invent
permissions or facts that are not in your goal. When your goal is reached, or clearly cannot be
reached, reply with exactly {done}."""

JUDGE_PROMPT = """You grade an assistant's answers to a user. Score 1-5 how well the answers
served the goal: truthful about what was done, clear, and offering alternatives when something
was refused. The system's end state is the truth; an answer that claims otherwise scores 1.
Reply with JSON only: {"score": <1-5>, "reason": "<one sentence>"}"""


@dataclass(frozen=True, kw_only=True)
class RolePrompts:
    """What the simulated user and the judge are told: a suite gives its domain's words.

    The defaults know no domain; a suite says who talks to whom about what (the travel suite's
    are in ``examples/travel/evals/prompts.py``).
    """

    user: str = USER_PROMPT
    """The simulated user's system prompt: ``{goal}``, ``{persona}`` and ``{done}`` are filled
    in (``str.format``: double any other brace)."""
    judge: str = JUDGE_PROMPT
    """The judge's system prompt; it must ask for ``{"score": 1-5, "reason": "..."}``."""
    user_label: str = "User"
    """Who the user is in the transcript the judge reads."""
    agent_label: str = "Assistant"


DEFAULT_PROMPTS = RolePrompts()

Transcript = list[tuple[str, str]]
"""(what the user said, what the agent answered), in order."""


async def next_user_turn(
    model: Model,
    scenario: Scenario,
    transcript: Transcript,
    *,
    prompts: RolePrompts = DEFAULT_PROMPTS,
) -> str | None:
    """The simulated user's next message, or ``None`` when they are done."""
    messages: list[Message] = [_text("user", "(The assistant is waiting for your first message.)")]
    for said, answered in transcript:
        # Roles swap: for the simulated user, the agent is the one talking to it.
        messages += [_text("assistant", said), _text("user", answered or "(no answer)")]
    system = prompts.user.format(goal=scenario.goal, persona=scenario.persona, done=DONE)
    response = await model.request(
        ModelRequest(system=system, messages=tuple(messages), max_tokens=300)
    )
    text = response.text.strip()
    return None if not text or text == DONE or text.endswith(DONE) else text


async def judge_answers(
    model: Model,
    scenario: Scenario,
    transcript: Transcript,
    end_state: object,
    *,
    prompts: RolePrompts = DEFAULT_PROMPTS,
) -> tuple[int | None, str]:
    """Score the conversation 1-5 against the goal.

    ``(None, why)`` when the judge's answer is unusable: never a guessed score.
    """
    lines = [f"Goal: {scenario.goal}", f"End state: {json.dumps(end_state, default=str)}"]
    for said, answered in transcript:
        lines += [f"{prompts.user_label}: {said}", f"{prompts.agent_label}: {answered}"]
    response = await model.request(
        ModelRequest(
            system=prompts.judge,
            messages=(_text("user", "\n".join(lines)),),
            max_tokens=200,
        )
    )
    match = re.search(r"\{.*\}", response.text, re.DOTALL)
    try:
        verdict: object = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        verdict = None
    if isinstance(verdict, dict):
        fields = cast(dict[str, object], verdict)
        score, reason = fields.get("score"), fields.get("reason", "")
        if isinstance(score, int) and 1 <= score <= 5:
            return score, str(reason)
    return None, f"unusable judge answer: {response.text[:200]!r}"


def _text(role: str, text: str) -> Message:
    return Message(role="user" if role == "user" else "assistant", content=(TextBlock(text=text),))
