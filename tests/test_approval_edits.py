"""How the loop takes an approver's edit: checked before anything changes, reported to the model."""

from __future__ import annotations

import json

from agentflow import ApprovalDecision
from agentflow.loop import ToolCall, with_edit_note

CALL = ToolCall(id="c1", name="book", arguments={"fare": "Y"}, digest="d")
EDITED = ApprovalDecision(
    digest="d", outcome="approved", approver="bob", edited_from="p", arguments={"fare": "Y"}
)


def test_a_json_result_keeps_its_shape_and_says_who_edited() -> None:
    content = with_edit_note(CALL, EDITED, '{"booking": 7}')
    assert json.loads(content) == {
        "booking": 7,
        "approver_edit": {
            "edited_by": "bob",
            "executed": {"tool": "book", "arguments": CALL.arguments},
        },
    }


def test_a_text_result_is_prefixed() -> None:
    content = with_edit_note(CALL, EDITED, "booked")
    assert content == (
        "The approver bob edited this call before approving it; executed: book(fare='Y'). "
        "Result: booked"
    )
