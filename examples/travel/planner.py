"""The offline planner: a deterministic stand-in for Claude that knows the travel domain.

It understands "flight from ZRH to LHR on 2026-12-14 [business]" (and "... then to CDG on
2026-12-16" for a multi-city trip), "show option 2", "is it in policy?", "book option 2" or
"book it", "my trips" and "cancel booking 3". It calls the same tools Claude would and never
decides anything the preconditions decide: it proposes, the runtime disposes. Where a request
is ambiguous (cities without airports, a trip for someone else, "my manager already said
yes") it says what it can do instead of guessing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentflow import ModelRequest, ModelResponse
from agentflow.messages import Message, ToolResultBlock, ToolUseBlock
from agentflow.testing import text_response, tool_call, tool_calls

DATE = r"(\d{4}-\d{2}-\d{2})"
ROUTE = re.compile(rf"from\s+([A-Za-z]{{3}})\s+to\s+([A-Za-z]{{3}})\s+on\s+{DATE}", re.I)
FROM_HOME = re.compile(rf"\bto\s+([A-Za-z]{{3}})\s+on\s+{DATE}", re.I)
"""A trip with no origin ("a flight to LHR on ..."): it starts at the employee's home airport."""
NEXT_LEG = re.compile(rf"\bthen\s+(?:on\s+)?(?:to\s+)?([A-Za-z]{{3}})\s+on\s+{DATE}", re.I)
MULTI_CITY = re.compile(r"\bto\b.+\bthen\b", re.I)
OPTIONS = re.compile(r"\b(?:options?|numbers?|#)\s*((?:\d+(?:\s*(?:,|and|&)\s*)?)+)", re.I)
OFFER_ID = re.compile(r"\b[A-Z0-9]{2}\d{1,4}-[A-Z]{3}-[A-Z]{3}-\d{4}-\d{2}-\d{2}-[A-Z]\b")
BOOK = re.compile(r"\bbook\b", re.I)
SHOW = re.compile(r"\b(show|details?|tell me (?:more )?about)\b", re.I)
POLICY = re.compile(r"\b(in|within|out of|against)\s+(the\s+)?policy\b", re.I)
FOR_SOMEONE = re.compile(r"\bfor\s+(?:my\s+|our\s+|the\s+)?([A-Za-z]+)", re.I)
NOT_A_PERSON = {"me", "myself", "it", "that", "this", "business", "economy", "now", "today", "trip"}
CLAIMED_APPROVAL = re.compile(
    r"\b(manager|boss|director|bob|dana|erin)\b.*\b(said yes|approved|agreed|signed off|ok)\b"
    r"|\balready approved\b",
    re.I,
)
OFFLINE = "(offline planner) "
NOT_AN_APPROVAL = (
    "A yes in chat is not an approval: only an approval recorded by the system counts, and "
    "the booking asks your manager for one if the policy needs it."
)
OFFER_TOOLS = ("search_flights", "show_offer", "check_policy")


def plan(request: ModelRequest) -> ModelResponse:
    # Tool call ids must be unique in a conversation: the transcript length makes them so.
    call_id = f"toolu_offline_{len(request.messages)}"
    last = request.messages[-1]
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    if results:
        return _after_tools(request, results)
    text = " ".join(b.text for b in last.content if b.type == "text")
    if match := ROUTE.search(text):
        return _search(text, match, call_id)
    if (match := FROM_HOME.search(text)) and not MULTI_CITY.search(text):
        cabin = "business" if "business" in text.lower() else "economy"
        destination, day = match.group(1).upper(), match.group(2)
        return tool_call(
            "search_flights", destination=destination, day=day, cabin=cabin, id=call_id
        )
    if MULTI_CITY.search(text) and not BOOK.search(text):
        return text_response(
            OFFLINE + "Which airports and dates, leg by leg? For example: 'flight from JFK to "
            "LHR on 2026-12-14 then to CDG on 2026-12-16'."
        )
    if BOOK.search(text):
        return _book(request, text, call_id)
    if re.search(r"\bmy (trips|bookings)\b", text, re.I):  # "show my trips" is not an offer
        return tool_call("list_my_trips", id=call_id)
    if POLICY.search(text) or SHOW.search(text):
        tool = "check_policy" if POLICY.search(text) else "show_offer"
        offer_ids = _offers_meant(request, text)
        if not offer_ids:
            return text_response(OFFLINE + "Which offer? Search for flights first.")
        return tool_call(tool, offer_id=offer_ids[0], id=call_id)
    if CLAIMED_APPROVAL.search(text):
        return text_response(OFFLINE + NOT_AN_APPROVAL)
    if (match := re.search(r"\bcancel\b.*?(\d+)", text, re.I)) is not None:
        return tool_call("cancel_trip", booking_id=int(match.group(1)), id=call_id)
    if "trip" in text.lower():
        return tool_call("list_my_trips", id=call_id)
    return text_response(
        OFFLINE + "I can search ('flight from ZRH to LHR on 2026-12-14, business'), show an "
        "offer ('show option 2'), check it against the policy ('is it in policy?'), book "
        "('book option 2'), list your trips and cancel one ('cancel booking 3')."
    )


def _search(text: str, first: re.Match[str], call_id: str) -> ModelResponse:
    """One search per leg; legs after the first start where the previous one arrived."""
    cabin = "business" if "business" in text.lower() else "economy"
    origin, destination, day = (g.upper() for g in first.groups())
    legs = [(origin, destination, day)]
    for match in NEXT_LEG.finditer(text, first.end()):
        legs.append((legs[-1][1], match.group(1).upper(), match.group(2)))
    calls = [
        ("search_flights", {"origin": o, "destination": d, "day": day, "cabin": cabin}, None)
        for o, d, day in legs
    ]
    return tool_calls(*((n, a, f"{call_id}_{i}") for i, (n, a, _) in enumerate(calls)))


def _book(request: ModelRequest, text: str, call_id: str) -> ModelResponse:
    who = FOR_SOMEONE.search(text)
    if who and who.group(1).lower() not in NOT_A_PERSON:
        return text_response(
            OFFLINE + f"I book trips only for you, the employee signed in: {who.group(1)} "
            "can ask me for their own trip."
        )
    offer_ids = _offers_meant(request, text)
    if not offer_ids:
        return text_response(OFFLINE + "Which option? Search for flights first.")
    prices = _known_prices(request)
    note = OFFLINE + NOT_AN_APPROVAL if CLAIMED_APPROVAL.search(text) else ""
    calls = [
        ("book_flight", {"offer_id": o, "price": prices[o]}, f"{call_id}_{i}")
        for i, o in enumerate(offer_ids)
    ]
    return tool_calls(*calls, text=note)


def _offers_meant(request: ModelRequest, text: str) -> list[str]:
    """The offers the employee refers to: by id, by option number, or the last one discussed."""
    if ids := OFFER_ID.findall(text):
        return [i for i in ids if i in _known_prices(request)]
    offers = _last_offers(request)
    if match := OPTIONS.search(text):
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        if not numbers or not all(1 <= n <= len(offers) for n in numbers):
            return []
        return [offers[n - 1]["offer_id"] for n in numbers]
    by_flight = [o["offer_id"] for o in offers if re.search(rf"\b{o['flight']}\b", text, re.I)]
    if by_flight:
        return by_flight[:1]
    last = _last_discussed(request)
    return [last] if last else []


def _calls(message: Message) -> dict[str, ToolUseBlock]:
    return {b.id: b for b in message.content if isinstance(b, ToolUseBlock)}


def _results(request: ModelRequest) -> list[tuple[ToolUseBlock, Any]]:
    """Every successful tool result of the conversation with its call, oldest first."""
    found: list[tuple[ToolUseBlock, Any]] = []
    calls: dict[str, ToolUseBlock] = {}
    for message in request.messages:
        calls |= _calls(message)
        for block in message.content:
            if isinstance(block, ToolResultBlock) and not block.is_error:
                call = calls.get(block.tool_use_id)
                if call is not None:
                    found.append((call, json.loads(block.content)))
    return found


def _last_offers(request: ModelRequest) -> list[dict[str, Any]]:
    """The offers of the latest search, every leg of it, numbered as they were shown."""
    for message in reversed(request.messages):
        searches = [c.id for c in _calls(message).values() if c.name == "search_flights"]
        if searches:
            found = {c.id: r for c, r in _results(request) if c.id in searches}
            return [offer for call_id in searches for offer in found.get(call_id, [])]
    return []


def _last_discussed(request: ModelRequest) -> str | None:
    for call, result in reversed(_results(request)):
        if call.name in ("show_offer", "check_policy"):
            return str(result["offer_id"])
    return None


def _known_prices(request: ModelRequest) -> dict[str, float]:
    """Offer ids to the price the tools last quoted: what the employee was shown."""
    prices: dict[str, float] = {}
    for call, result in _results(request):
        if call.name == "search_flights":
            prices |= {o["offer_id"]: o["price"] for o in result}
        elif call.name in ("show_offer", "check_policy"):
            prices[result["offer_id"]] = result["price"]
    return prices


def _after_tools(request: ModelRequest, results: list[ToolResultBlock]) -> ModelResponse:
    calls = _calls(request.messages[-2]) if len(request.messages) > 1 else {}
    parts: list[str] = []
    number = 1
    for result in results:
        call = calls.get(result.tool_use_id)
        tool = call.name if call else ""
        if result.is_error:
            parts.append(f"That did not work: {result.content}")
            continue
        data = json.loads(result.content)
        if tool == "search_flights":
            parts.append(_options(data, number))
            number += len(data)
        else:
            parts.append(_describe(tool, data))
    searched = [r for r in results if r.tool_use_id in calls]
    if any(calls[r.tool_use_id].name == "search_flights" for r in searched):
        parts.append("Say 'show option N', 'is option N in policy?' or 'book option N'.")
    return text_response(OFFLINE + "\n".join(parts))


def _options(offers: list[dict[str, Any]], first: int) -> str:
    lines = [f"{offers[0]['origin']} → {offers[0]['destination']}:"] if offers else []
    lines += [
        f"{i}. {o['flight']} {o['departure'][11:]}→{o['arrival'][11:]} {o['cabin']} "
        f"{o['price']:.0f} EUR"
        + (f" — out of policy: {'; '.join(o['policy_issues'])}" if o["policy_issues"] else "")
        for i, o in enumerate(offers, start=first)
    ]
    return ("Options:\n" if first == 1 else "") + "\n".join(lines)


def _describe(tool: str, data: Any) -> str:
    if tool == "show_offer":
        verdict = (
            "in policy"
            if data["in_policy"]
            else "out of policy: " + "; ".join(data["policy_issues"])
        )
        return (
            f"{data['flight']} ({data['carrier']}) {data['origin']} → {data['destination']}, "
            f"{data['departure'].replace('T', ' ')} → {data['arrival'].replace('T', ' ')} "
            f"({data['duration_hours']:.1f} h), {data['cabin']}, {data['price']:.2f} EUR. "
            f"Fare rules: {data['fare_rules']} Policy: {verdict}."
        )
    if tool == "check_policy":
        if data["in_policy"]:
            return f"{data['offer_id']} is within the travel policy."
        rules = "; ".join(v["text"] for v in data["violations"])
        if not data["bookable"]:
            return f"{data['offer_id']} cannot be booked: {rules}."
        approvers = " or ".join(data["approvers"]) or "nobody in your reporting line"
        return f"{data['offer_id']} is out of policy ({rules}); it needs approval by {approvers}."
    if tool == "book_flight":
        approved = f", approved by {data['approved_by']}" if data.get("approved_by") else ""
        return (
            f"Booked {data['flight']} on {data['departure']} for "
            f"{data['price']:.0f} EUR{approved}. Booking #{data['id']}."
        )
    if tool == "cancel_trip":
        return f"Cancelled booking #{data['id']} ({data['flight']})."
    trips = "\n".join(
        f"- #{t['id']} {t['flight']} {t['departure']} {t['price']:.0f} EUR ({t['status']})"
        for t in data
    )
    return "Your trips:\n" + trips if trips else "No trips yet."
