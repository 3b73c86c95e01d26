"""The loop takes an approver's edit only within what the policy lets them change.

An approver who may change the fare must not be able to change the flight, the traveller or the
price: the loop refuses such a decision before anything changes, whichever channel it came from.
"""

from __future__ import annotations

import pytest

from agentflow import AgentLoop, ApprovalDecision, ApprovalError, call_digest, tool
from agentflow.approvals.rules import check_edit
from agentflow.binding import ApprovalRequest
from agentflow.loop import AwaitApprovals, CallModel, CallTools
from agentflow.outcomes import ToolNeedsApproval
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
