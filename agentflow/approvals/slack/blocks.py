"""The Block Kit an approval shows in Slack: pure functions from data to JSON-ready dicts.

Everything shown comes from the request as code built it (the validated arguments, the text of
the rules that asked for approval), never from free text the model wrote for the approver. It is
still escaped: arguments are model-chosen strings, and ``<!channel>`` or a crafted link must
show as text, not act.

The buttons carry the approval id and the digest of the call shown. A click therefore decides
exactly the call its message displayed; a click on a message that is out of date (another
digest) is refused by the desk and by the workflow.
"""

from __future__ import annotations

import json
from typing import Any

from agentflow.approvals.summary import Summary
from agentflow.binding import ApprovalRequest

APPROVE_ACTION = "agentflow_approve"
DENY_ACTION = "agentflow_deny"
DENY_CALLBACK = "agentflow_deny_reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason"
ACTIONS_BLOCK = "agentflow_decision"
VIEW_ACTION = "agentflow_view_conversation"
"""A link button: Slack still sends ``block_actions`` for it, which decide nothing."""

Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: these three characters would otherwise make links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def person(name: str, slack_user_id: str | None) -> str:
    """A mention when Slack knows the person (renders as their name), else the name."""
    return f"<@{slack_user_id}>" if slack_user_id else f"*{escape(name)}*"


def button_value(approval_id: str, digest: str) -> str:
    return json.dumps({"approval_id": approval_id, "digest": digest}, separators=(",", ":"))


def parse_button_value(value: str) -> tuple[str, str] | None:
    """``(approval_id, digest)`` from a button or modal, or ``None`` if it is not ours."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    fields: dict[str, object] = data  # pyright: ignore[reportUnknownVariableType]
    approval_id, digest = fields.get("approval_id"), fields.get("digest")
    if isinstance(approval_id, str) and isinstance(digest, str):
        return approval_id, digest
    return None


def _text(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _details(
    approval_id: str, request: ApprovalRequest, summary: Summary, requester: str
) -> list[Block]:
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Approval needed: {summary.title}"[:150]},
        },
        {"type": "section", "text": _text(f"{requester} asks for approval.")},
    ]
    if summary.fields:
        # Slack allows ten fields per section.
        for start in range(0, len(summary.fields), 10):
            chunk = summary.fields[start : start + 10]
            blocks.append(
                {
                    "type": "section",
                    "fields": [
                        _text(f"*{escape(label)}*\n{escape(value)}"[:2000])
                        for label, value in chunk
                    ],
                }
            )
    if request.reasons:
        rules = "\n".join(f"• {escape(reason)}" for reason in request.reasons)
        blocks.append(
            {"type": "section", "text": _text(f"*Why it needs approval*\n{rules}"[:3000])}
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                _text(f"Approval `{escape(approval_id)}` · call digest `{request.digest[:16]}`")
            ],
        }
    )
    return blocks


def request_blocks(
    *,
    approval_id: str,
    request: ApprovalRequest,
    summary: Summary,
    requester: str,
    note: str | None = None,
    timeline_url: str | None = None,
) -> list[Block]:
    """The message an approver receives: the request, why, who asks, Approve and Deny.

    With ``timeline_url``, a "View conversation" link button opens the conversation's audit
    timeline in the browser, so the approver can read what led to the request.
    """
    blocks = _details(approval_id, request, summary, requester)
    if note:
        blocks.append({"type": "context", "elements": [_text(note)]})
    value = button_value(approval_id, request.digest)
    blocks.append(
        {
            "type": "actions",
            "block_id": ACTIONS_BLOCK,
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": DENY_ACTION,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Deny"},
                    "value": value,
                },
            ],
        }
    )
    if timeline_url:
        blocks[-1]["elements"].append(view_button(timeline_url))
    return blocks


def view_button(url: str) -> Block:
    """A Block Kit link button (``url``, no ``value``): opens ``url``, never decides."""
    return {
        "type": "button",
        "action_id": VIEW_ACTION,
        "text": {"type": "plain_text", "text": "View conversation"},
        "url": url[:3000],
    }


def closed_blocks(
    *, approval_id: str, request: ApprovalRequest, summary: Summary, requester: str, outcome: str
) -> list[Block]:
    """The same message once decided or expired: the outcome where the buttons were."""
    blocks = _details(approval_id, request, summary, requester)
    blocks.append({"type": "section", "text": _text(outcome)})
    return blocks


def deny_modal(*, approval_id: str, digest: str, channel: str | None) -> Block:
    """The modal a Deny click opens: a denial needs a reason, which goes back to the agent."""
    metadata = {"approval_id": approval_id, "digest": digest, "channel": channel}
    return {
        "type": "modal",
        "callback_id": DENY_CALLBACK,
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "title": {"type": "plain_text", "text": "Deny request"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Why do you deny it?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": 500,
                },
            }
        ],
    }
