"""The sans-IO loop on its own: events in, effects out, no I/O, serialisable state."""

from __future__ import annotations

from typing import Any

from agentflow import AgentLoop, Limits, LoopState, tool
from agentflow.binding import ApprovalRequest
from agentflow.loop import AwaitApprovals, CallModel, CallTools, Finish
from agentflow.outcomes import ToolNeedsApproval, ToolReturned
from agentflow.testing import tool_calls


@tool
def book(flight_id: str, price: float) -> str:
    """Book."""
    return "never called by the loop"


def request_for(call: Any) -> ApprovalRequest:
    return ApprovalRequest(
        tool=call.name,
        tool_call_id=call.id,
        arguments=call.arguments,
        digest=call.digest,
        requester="alice",
        approvers=("bob",),
    )


def drive_to_approval(loop: AgentLoop) -> tuple[CallTools, AwaitApprovals]:
    assert isinstance(loop.user_message("book both"), CallModel)
    effect = loop.model_responded(
        tool_calls(
            ("book", {"flight_id": "LX14", "price": 900}, "a"),
            ("book", {"flight_id": "LX15", "price": 2000}, "b"),
        )
    )
    assert isinstance(effect, CallTools)
    a, b = effect.calls
    waiting = loop.tools_finished(
        [
            ToolReturned(call_id=a.id, content="booked a"),
            ToolNeedsApproval(call_id=b.id, request=request_for(b)),
        ]
    )
    assert isinstance(waiting, AwaitApprovals)
    return effect, waiting


def test_effects_are_a_pure_function_of_events() -> None:
    first, second = AgentLoop(tools=[book]), AgentLoop(tools=[book])
    assert drive_to_approval(first) == drive_to_approval(second)
    assert first.state == second.state


def test_calls_carry_validated_arguments_and_their_digest() -> None:
    loop = AgentLoop(tools=[book])
    calls, _ = drive_to_approval(loop)
    a = calls.calls[0]
    assert a.arguments == {"flight_id": "LX14", "price": 900.0}
    assert len(a.digest) == 64 and a.digest != calls.calls[1].digest


def test_state_survives_serialisation_mid_approval() -> None:
    loop = AgentLoop(tools=[book], limits=Limits(max_steps=5))
    _, waiting = drive_to_approval(loop)
    restored = AgentLoop(
        tools=[book], state=LoopState.model_validate_json(loop.state.model_dump_json())
    )
    assert restored.pending_approvals == waiting.requests

    (request,) = waiting.requests
    decision = request.decide("approved", approver="bob")
    effect = restored.approvals_decided([decision])
    assert isinstance(effect, CallTools)
    assert effect.calls[0].approval == decision
    after = restored.tools_finished([ToolReturned(call_id=effect.calls[0].id, content="booked b")])
    assert isinstance(after, CallModel)
    # Both results go back together, in the order the model asked for them.
    last = after.request.messages[-1]
    assert [b.tool_use_id for b in last.content if b.type == "tool_result"] == ["a", "b"]


def test_denied_approval_goes_back_to_the_model_as_an_error() -> None:
    loop = AgentLoop(tools=[book])
    _, waiting = drive_to_approval(loop)
    decision = waiting.requests[0].deny("bob", reason="too pricey")
    effect = loop.approvals_decided([decision])
    assert isinstance(effect, CallModel)
    result = effect.request.messages[-1].content[1]
    assert result.type == "tool_result" and result.is_error
    assert result.content == "Approval denied by bob: too pricey"


def test_max_steps_finishes_without_calling_the_model() -> None:
    loop = AgentLoop(tools=[book], limits=Limits(max_steps=1))
    loop.user_message("go")
    effect = loop.model_responded(tool_calls(("book", {"flight_id": "X", "price": 1}, "a")))
    assert isinstance(effect, CallTools)
    assert loop.tools_finished([ToolReturned(call_id="a", content="ok")]) == Finish(
        "max_steps", "I stopped because this request needed more steps than I am allowed."
    )


def test_serialised_state_does_not_depend_on_the_hash_seed() -> None:
    import subprocess
    import sys

    code = (
        "from agentflow import LoopState; "
        "print(LoopState(call_ids={'c', 'a', 'b', 'zz', 'q'}).model_dump_json())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(4)
    }
    assert len(outputs) == 1
    assert '"call_ids":["a","b","c","q","zz"]' in outputs.pop()
