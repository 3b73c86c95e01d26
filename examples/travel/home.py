"""The travel app's part of an employee's Slack Home tab: their trips.

:class:`agentflow.web.slack_chat.SlackChat` adds the approvals (the employee's pending
requests, and those waiting for their decision) below it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from agentflow.approvals.slack.blocks import escape
from examples.travel.store import trips_of

Block = dict[str, Any]


def trips_section(engine: Engine) -> Callable[[str], Sequence[Block]]:
    """A Home section listing the employee's booked and cancelled trips, soonest first."""

    def section(employee: str) -> Sequence[Block]:
        trips = sorted(trips_of(engine, employee), key=lambda t: t.departure)
        lines = [
            f"#{t.id} {t.flight} {t.departure.replace('T', ' ')} {t.cabin}, {t.price:,.2f} EUR"
            + (f", approved by {t.approved_by}" if t.approved_by else "")
            + ("" if t.status == "booked" else f" ({t.status})")
            for t in trips
        ]
        return [
            {"type": "header", "text": {"type": "plain_text", "text": "Your trips"}},
            *(
                {"type": "section", "text": {"type": "mrkdwn", "text": escape(line)}}
                for line in lines or ["No trips yet: send me a message to book one."]
            ),
        ]

    return section
