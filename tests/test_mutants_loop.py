"""The loop takes an approver's edit only within what the policy lets them change.

An approver who may change the fare must not be able to change the flight, the traveller or the
price: the loop refuses such a decision before anything changes, whichever channel it came from.
"""

from __future__ import annotations

import itertools

import pytest

from agentflow import AgentLoop, ApprovalDecision, ApprovalError, call_digest, tool
from agentflow.approvals.rules import check_edit
from agentflow.binding import ApprovalRequest
from agentflow.loop import AwaitApprovals, CallModel, CallTools, Finish, Limits
from agentflow.messages import ModelResponse, ToolResultBlock, ToolUseBlock
from agentflow.outcomes import ToolNeedsApproval, ToolReturned
from agentflow.testing import tool_calls

ARGS = {"flight_id": "LX14", "fare": "J", "traveller": "alice"}


@tool
def book(flight_id: str, fare: str, traveller: str) -> str:
    """Book."""
    return "never called by the loop"


def waiting_loop() -> tuple[AgentLoop, ApprovalRequest]:
    loop = AgentLoop(tools=[book])
    assert isinstance(loop.user_message("book it"), CallModel)
    effect = loop.model_responded(tool_calls(("book", ARGS, "c1")))
    assert isinstance(effect, CallTools)
    call = effect.calls[0]
    request = ApprovalRequest(
        tool="book",
        tool_call_id=call.id,
        arguments=call.arguments,
        digest=call.digest,
        requester="alice",
        approvers=("bob",),
        editable=("fare",),
    )
    assert isinstance(
        loop.tools_finished([ToolNeedsApproval(call_id=call.id, request=request)]),
        AwaitApprovals,
    )
    return loop, request


def edited(request: ApprovalRequest, **changes: str) -> ApprovalDecision:
    arguments = {**request.arguments, **changes}
    return request.approve("bob").model_copy(
        update={
            "digest": call_digest("book", arguments),
            "edited_from": request.digest,
            "arguments": arguments,
        }
    )


@pytest.mark.parametrize(
    "changes",
    [{"flight_id": "LX99"}, {"traveller": "mallory"}, {"fare": "Y", "flight_id": "LX99"}],
    ids=["flight", "traveller", "fare and flight"],
)
def test_an_edit_of_a_locked_argument_is_refused_and_changes_nothing(
    changes: dict[str, str],
) -> None:
    loop, request = waiting_loop()
    before = loop.state.model_copy(deep=True)
    with pytest.raises(ApprovalError, match=r"may not change (flight_id|traveller)"):
        loop.approvals_decided([edited(request, **changes)])
    assert loop.state == before
    assert loop.pending_approvals == (request,)


def test_an_edit_of_an_editable_argument_runs_the_edited_call() -> None:
    loop, request = waiting_loop()
    effect = loop.approvals_decided([edited(request, fare="Y")])
    assert isinstance(effect, CallTools)
    assert effect.calls[0].arguments == {**ARGS, "fare": "Y"}


def test_the_rulebook_names_every_locked_argument() -> None:
    request = ApprovalRequest(
        tool="book", tool_call_id="c1", arguments=ARGS, digest="d", requester="alice"
    )
    with pytest.raises(ApprovalError, match=r"may not change fare, flight_id \(editable: none\)"):
        check_edit(request, ["flight_id", "fare"])
    with pytest.raises(ApprovalError, match="must change at least one argument"):
        check_edit(request.model_copy(update={"editable": ("fare",)}), [])
    check_edit(request.model_copy(update={"editable": ("fare",)}), ["fare"])


# -- what the transcript keeps when a run stops or the model errs ----------------------------------


def results_of(loop: AgentLoop) -> dict[str, ToolResultBlock]:
    return {
        block.tool_use_id: block
        for message in loop.state.messages
        for block in message.content
        if isinstance(block, ToolResultBlock)
    }


def test_a_call_left_waiting_when_the_run_stops_is_answered_as_an_error() -> None:
    loop = AgentLoop(tools=[book], limits=Limits(max_retries=0))
    loop.user_message("book it")
    effect = loop.model_responded(tool_calls(("book", ARGS, "c1"), ("nope", {}, "c2")))
    assert isinstance(effect, CallTools)
    request = ApprovalRequest(
        tool="book", tool_call_id="c1", arguments=ARGS, digest="d", requester="alice"
    )
    finish = loop.tools_finished([ToolNeedsApproval(call_id="c1", request=request)])
    assert isinstance(finish, Finish) and finish.status == "tool_retries"
    waiting = results_of(loop)["c1"]
    assert waiting.is_error
    assert "Not executed" in waiting.content
    assert loop.pending_approvals == ()


def test_a_run_that_stops_without_an_answer_ends_on_what_the_user_was_told() -> None:
    loop = AgentLoop(tools=[book], limits=Limits(max_steps=1))
    loop.user_message("book it")
    effect = loop.model_responded(tool_calls(("book", ARGS, "c1")))
    assert isinstance(effect, CallTools)
    finish = loop.tools_finished([ToolReturned(call_id="c1", content="booked")])
    assert isinstance(finish, Finish) and finish.status == "max_steps"
    last = loop.state.messages[-1]
    assert (last.role, last.text) == ("assistant", finish.output)
    roles = [m.role for m in loop.state.messages]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles


def test_an_edited_call_that_fails_validation_is_refused_saying_so() -> None:
    loop, request = waiting_loop()
    before = loop.state.model_copy(deep=True)
    decision = edited(request, fare="Y").model_copy(update={"arguments": {**ARGS, "fare": ["Y"]}})
    with pytest.raises(ApprovalError, match=r"(?s)the edited call is invalid: .*fare"):
        loop.approvals_decided([decision])
    assert loop.state == before


def test_a_call_whose_input_is_not_an_object_is_answered_with_what_it_was() -> None:
    loop = AgentLoop(tools=[book])
    loop.user_message("book it")
    response = ModelResponse(
        content=(ToolUseBlock(id="c1", name="book", input=["LX14"]),), stop_reason="tool_use"
    )
    loop.model_responded(response)
    assert results_of(loop)["c1"].content.endswith("arguments must be a JSON object, got list")


def test_a_tool_call_id_outside_the_providers_pattern_keeps_its_letters_and_digits() -> None:
    loop = AgentLoop(tools=[book])
    loop.user_message("book it")
    effect = loop.model_responded(tool_calls(("book", ARGS, "call.Ab9/x")))
    assert isinstance(effect, CallTools)
    assert [call.id for call in effect.calls] == ["call_Ab9_x"]
