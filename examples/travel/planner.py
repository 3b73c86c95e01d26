"""The offline planner: a deterministic stand-in for Claude that knows the travel domain.

It understands "flight from ZRH to LHR on 2026-12-14 [business]", "book option 2" and
"my trips", calls the same tools Claude would, and never decides anything the preconditions
decide: it proposes, the runtime disposes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentflow import ModelRequest, ModelResponse
from agentflow.testing import text_response, tool_call

ROUTE = re.compile(r"from\s+([A-Za-z]{3})\s+to\s+([A-Za-z]{3})\s+on\s+(\d{4}-\d{2}-\d{2})", re.I)
OPTION = re.compile(r"\b(?:option|number|#)\s*(\d+)\b", re.I)
OFFLINE = "(offline planner) "


def plan(request: ModelRequest) -> ModelResponse:
    # Tool call ids must be unique in a conversation: the transcript length makes them so.
    call_id = f"toolu_offline_{len(request.messages)}"
    last = request.messages[-1]
    results = [b for b in last.content if b.type == "tool_result"]
    if results:
        return _after_tool(request, results[0].content, results[0].is_error)
    text = " ".join(b.text for b in last.content if b.type == "text")
    if match := ROUTE.search(text):
        cabin = "business" if "business" in text.lower() else "economy"
        origin, destination, day = match.groups()
        return tool_call(
            "search_flights",
            origin=origin.upper(),
            destination=destination.upper(),
            day=day,
            cabin=cabin,
            id=call_id,
        )
    if (match := OPTION.search(text)) and re.search(r"\bbook\b", text, re.I):
        offers = _last_offers(request)
        index = int(match.group(1)) - 1
        if not 0 <= index < len(offers):
            return text_response(OFFLINE + "Which option? Search for flights first.")
        offer = offers[index]
        return tool_call(
            "book_flight", offer_id=offer["offer_id"], price=offer["price"], id=call_id
        )
    if (match := re.search(r"\bcancel\b.*?(\d+)", text, re.I)) is not None:
        return tool_call("cancel_trip", booking_id=int(match.group(1)), id=call_id)
    if "trip" in text.lower():
        return tool_call("list_my_trips", id=call_id)
    return text_response(
        OFFLINE + "I can search ('flight from ZRH to LHR on 2026-12-14, business'), "
        "book ('book option 2'), list your trips and cancel one ('cancel booking 3')."
    )


def _after_tool(request: ModelRequest, content: str, is_error: bool) -> ModelResponse:
    calls = [b for m in request.messages for b in m.content if b.type == "tool_use"]
    tool = calls[-1].name if calls else ""
    if is_error:
        return text_response(OFFLINE + f"That did not work: {content}")
    data = json.loads(content)
    if tool == "search_flights":
        lines = [
            f"{i}. {o['flight']} {o['departure'][11:]}→{o['arrival'][11:]} {o['cabin']} "
            f"{o['price']:.0f} EUR"
            + (f" — out of policy: {'; '.join(o['policy_issues'])}" if o["policy_issues"] else "")
            for i, o in enumerate(data, start=1)
        ]
        return text_response(OFFLINE + "Options:\n" + "\n".join(lines) + "\nSay 'book option N'.")
    if tool == "book_flight":
        approved = f", approved by {data['approved_by']}" if data.get("approved_by") else ""
        return text_response(
            OFFLINE + f"Booked {data['flight']} on {data['departure']} for "
            f"{data['price']:.0f} EUR{approved}. Booking #{data['id']}."
        )
    if tool == "cancel_trip":
        return text_response(OFFLINE + f"Cancelled booking #{data['id']} ({data['flight']}).")
    trips = "\n".join(
        f"- #{t['id']} {t['flight']} {t['departure']} {t['price']:.0f} EUR ({t['status']})"
        for t in data
    )
    return text_response(OFFLINE + ("Your trips:\n" + trips if trips else "No trips yet."))


def _last_offers(request: ModelRequest) -> list[dict[str, Any]]:
    searches = {
        b.id
        for m in request.messages
        for b in m.content
        if b.type == "tool_use" and b.name == "search_flights"
    }
    for message in reversed(request.messages):
        for block in message.content:
            if block.type == "tool_result" and block.tool_use_id in searches and not block.is_error:
                return json.loads(block.content)
    return []
