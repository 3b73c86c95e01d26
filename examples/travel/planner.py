"""The offline planner: a deterministic stand-in for Claude that knows the travel domain.

It understands "flight from ZRH to LHR on 2026-12-14 [business]" (and "... then to CDG on
2026-12-16" for a multi-city trip), requests in the employee's words ("Book me a flight to NYC
next Tuesday", "I need to be in London on Monday, cheapest flight please": places through the
airports data (:mod:`examples.travel.places`), the day as said, read by the search tool against
today, preferences such as cheapest, earliest, morning or evening, business, direct),
"show option 2", "is it in policy?", "book option 2" or "book it", a pick ("option 2", "the
cheapest one") which it shows with the policy's verdict before asking "shall I book it?",
"my trips" and "cancel booking 3". It presents the top three offers of a search. When an
approval is denied or expires, it searches the same trip again and offers the in-policy
alternatives. It calls the same tools Claude would and never decides anything the
preconditions decide: it proposes, the runtime disposes. Where a request is ambiguous (a
city with several airports, a trip for someone else, "my manager already said yes") it says
what it can do instead of guessing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentflow import ModelRequest, ModelResponse
from agentflow.messages import Message, ToolResultBlock, ToolUseBlock
from agentflow.testing import text_response, tool_call, tool_calls
from examples.travel.confirmation import confirmation, offers_named
from examples.travel.dates import find_day_phrase
from examples.travel.places import Place, find_place

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
NOT_A_PERSON = {
    *("me", "myself", "it", "that", "this", "business", "economy", "now", "today", "trip"),
    *("next", "the", "a", "tomorrow", "tonight", "work", "a meeting"),
}
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
TOP = 3
"""Offers of a search presented to the employee (the rest on request)."""
TO_WORDS = ("to", "in", "into", "nach", "pour", "para", "per")
FROM_WORDS = ("from", "von", "de", "desde", "da")
PREFERENCES = (
    (re.compile(r"\b(cheapest|cheaper|lowest (?:fare|price)|budget)\b", re.I), "cheapest"),
    (re.compile(r"\b(fastest|shortest|quickest)\b", re.I), "fastest"),
    (re.compile(r"\b(latest|last flight)\b", re.I), "latest"),
)
TIMES_OF_DAY = (
    (re.compile(r"\b(morning|matin|morgen|vormittag|mañana)\b", re.I), "morning"),
    (re.compile(r"\b(afternoon|nachmittag|après-midi|tarde)\b", re.I), "afternoon"),
    (re.compile(r"\b(evening|night|tonight|abend|soir)\b", re.I), "evening"),
)
DIRECT = re.compile(r"\b(direct|non-?stop|nonstop)\b", re.I)
FLIGHT_WORDS = re.compile(
    r"\b(flights?|fly|flying|trip|travel|be in|get to|book me|vol|flug|vuelo|volo)\b", re.I
)
PICK = re.compile(r"^\W*(?:i'?ll take |i want |let'?s (?:go with|take) )?(?:option|the)\b", re.I)
YES = re.compile(r"^\W*(yes|confirm|go ahead)\b", re.I)
NOT_A_DAY = re.compile(r"\b(week|month|year|weekend|sometime|soon)\b", re.I)
"""Words that name a period, not the day a flight leaves: the employee is asked for the day."""
ALTERNATIVES = "_alternatives"
"""The id suffix of the search for alternatives after a denial: its answer lists them."""
APPROVAL_ENDED = re.compile(r"^Approval (denied|expired)\b(?: by (\S+?))?(?::\s*(.*))?$", re.S)


def plan(request: ModelRequest) -> ModelResponse:
    # Tool call ids must be unique in a conversation: the transcript length makes them so.
    call_id = f"toolu_offline_{len(request.messages)}"
    last = request.messages[-1]
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    if results:
        return _alternatives(request, results, call_id) or _after_tools(request, results)
    text = " ".join(b.text for b in last.content if b.type == "text")
    if match := ROUTE.search(text):
        return _search(text, match, call_id)
    if (match := FROM_HOME.search(text)) and not MULTI_CITY.search(text):
        destination, day = match.group(1).upper(), match.group(2)
        return tool_call(
            "search_flights", destination=destination, day=day, id=call_id, **_wishes(text)
        )
    if MULTI_CITY.search(text) and not BOOK.search(text):
        return text_response(
            OFFLINE + "Which airports and dates, leg by leg? For example: 'flight from JFK to "
            "LHR on 2026-12-14 then to CDG on 2026-12-16'."
        )
    if (natural := _natural(text, call_id)) is not None:
        return natural
    if re.search(r"\b(show|list|see) (?:me )?all\b|\ball (?:the )?options\b", text, re.I):
        return text_response(OFFLINE + _all_options(request))
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
    if YES.search(text) and confirmation(text, request.messages).offers:
        return _book(request, text, call_id)
    if PICK.search(text) and (picked := _offers_meant(request, text)):
        return tool_calls(
            ("show_offer", {"offer_id": picked[0]}, f"{call_id}_show"),
            ("check_policy", {"offer_id": picked[0]}, f"{call_id}_policy"),
        )
    if (match := re.search(r"\bcancel\b.*?(\d+)", text, re.I)) is not None:
        return tool_call("cancel_trip", booking_id=int(match.group(1)), id=call_id)
    if "trip" in text.lower():
        return tool_call("list_my_trips", id=call_id)
    return text_response(
        OFFLINE + "I can search ('a flight to London next Tuesday, cheapest', or 'flight from "
        "ZRH to LHR on 2026-12-14, business'), show an offer ('show option 2'), check it "
        "against the policy ('is it in policy?'), book ('book option 2'), list your trips and "
        "cancel one ('cancel booking 3')."
    )


def _wishes(text: str) -> dict[str, Any]:
    """The search's preferences as the employee said them: cabin, ranking, time of day, direct."""
    wishes: dict[str, Any] = {"cabin": "business" if "business" in text.lower() else "economy"}
    wishes["prefer"] = next((p for rx, p in PREFERENCES if rx.search(text)), "earliest")
    if part := next((t for rx, t in TIMES_OF_DAY if rx.search(text)), None):
        wishes["time_of_day"] = part
    if DIRECT.search(text):
        wishes["direct_only"] = True
    return wishes


def _natural(text: str, call_id: str) -> ModelResponse | None:
    """A request in the employee's words: "Book me a flight to NYC next Tuesday"."""
    destination = find_place(text, TO_WORDS)
    if destination is None or not FLIGHT_WORDS.search(text):
        return None
    who = FOR_SOMEONE.search(text)
    if (
        who
        and who.group(1).lower() not in NOT_A_PERSON
        and not find_place(who.group(0), ("for",))  # "a flight for London"
        and find_day_phrase(who.group(0)) is None  # "a flight for Monday"
    ):
        return _not_for_others(who.group(1))
    origin = find_place(text, FROM_WORDS)
    for place in (origin, destination):
        if place is not None and place.airport is None:
            return text_response(OFFLINE + f"Which airport in {place.name}? {place.describe()}.")
    day = find_day_phrase(text)
    if day is None or NOT_A_DAY.search(day):
        where = _named(destination)
        return text_response(OFFLINE + f"Which day do you want to fly to {where}?")
    arguments: dict[str, Any] = {"destination": destination.airport, "when": day}
    if origin is not None:
        arguments["origin"] = origin.airport
    return tool_call("search_flights", arguments | _wishes(text), id=call_id)


def _named(place: Place) -> str:
    return place.name if place.name == place.airport else f"{place.name} ({place.airport})"


def _not_for_others(name: str) -> ModelResponse:
    return text_response(
        OFFLINE + f"I book trips only for you, the employee signed in: {name} "
        "can ask me for their own trip."
    )


def _alternatives(
    request: ModelRequest, results: list[ToolResultBlock], call_id: str
) -> ModelResponse | None:
    """After a denied or expired approval: search the same trip again for in-policy offers."""
    calls = _calls(request.messages[-2]) if len(request.messages) > 1 else {}
    for result in results:
        call = calls.get(result.tool_use_id)
        ended = APPROVAL_ENDED.match(result.content) if result.is_error else None
        if call is None or call.name != "book_flight" or ended is None:
            continue
        parts = str(call.input.get("offer_id", "")).split("-")  # type: ignore[union-attr]
        if len(parts) != 7:
            return None
        _, origin, destination, year, month, day, _ = parts
        outcome, who, why = ended.groups()
        said = (
            f"{who or 'Your manager'} declined" + (f" ({why.strip()})" if why else "")
            if outcome == "denied"
            else "Nobody decided on the approval in time, so it expired"
        )
        search = {
            "origin": origin,
            "destination": destination,
            "day": f"{year}-{month}-{day}",
            "cabin": "economy",
            "prefer": "cheapest",
        }
        return tool_call(
            "search_flights", search, id=call_id + ALTERNATIVES, text=OFFLINE + said + "."
        )
    return None


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
        return _not_for_others(who.group(1))
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
    """The offers the employee refers to (see :mod:`examples.travel.confirmation`).

    Else the last one discussed; none if an option number is not on the list.
    """
    offers = _last_offers(request)
    if match := OPTIONS.search(OFFER_ID.sub(" ", text)):
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        if not numbers or not all(1 <= n <= len(offers) for n in numbers):
            return []
    known = _known_prices(request)
    named = [o for o in offers_named(text, request.messages) if o in known]
    if named or OFFER_ID.search(text):
        return named
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
    picked: dict[str, Any] = {}
    for result in results:
        call = calls.get(result.tool_use_id)
        tool = call.name if call else ""
        if result.is_error:
            parts.append(f"That did not work: {result.content}")
            continue
        data = json.loads(result.content)
        if tool == "search_flights" and call is not None and call.id.endswith(ALTERNATIVES):
            asked = request.messages[len(request.messages) - 2]
            parts.append(asked.text.removeprefix(OFFLINE))
            parts.append(_alternative_options(data))
        elif tool == "search_flights":
            parts.append(_options(data, number))
            number += len(data)
        else:
            parts.append(_describe(tool, data))
            if tool in ("show_offer", "check_policy"):
                picked[tool] = data
    searched = [r for r in results if r.tool_use_id in calls]
    if any(calls[r.tool_use_id].name == "search_flights" for r in searched):
        parts.append("Say 'option N' to see one, or 'book option N'.")
    elif len(picked) == 2 and len({d["offer_id"] for d in picked.values()}) == 1:
        parts.append(_shall_i_book(picked["show_offer"], picked["check_policy"]))
    return text_response(OFFLINE + "\n".join(parts))


def _shall_i_book(offer: dict[str, Any], check: dict[str, Any]) -> str:
    """The reference flow: show what would be booked, then ask before booking it."""
    what = (
        f"{offer['flight']} on {offer['departure'].replace('T', ' ')} for {offer['price']:.2f} EUR"
    )
    if check["in_policy"]:
        return f"Shall I book {what}? Say 'yes' to book it."
    if not check["bookable"]:
        return "I cannot book this one; pick another option."
    approvers = " or ".join(check["approvers"]) or "your manager"
    return f"Shall I book {what}? It needs approval by {approvers}: say 'yes' and I will ask."


def _line(number: int, offer: dict[str, Any]) -> str:
    issues = offer.get("policy_issues") or []
    return (
        f"{number}. {offer['flight']} {offer['departure'][11:]}→{offer['arrival'][11:]} "
        f"{offer['cabin']} {offer['price']:.0f} EUR"
        + (f" — out of policy: {'; '.join(issues)}" if issues else "")
    )


def _options(offers: list[dict[str, Any]], first: int) -> str:
    """The top three of one search, numbered as the tool returned them (as "option N" reads)."""
    if not offers:
        return "No flights found."
    lines = [f"{offers[0]['origin']} → {offers[0]['destination']}, {offers[0]['departure'][:10]}:"]
    lines += [_line(i, o) for i, o in enumerate(offers[:TOP], start=first)]
    if len(offers) > TOP:
        lines.append(f"({len(offers) - TOP} more: say 'show all options'.)")
    return ("Options:\n" if first == 1 else "") + "\n".join(lines)


def _alternative_options(offers: list[dict[str, Any]]) -> str:
    """The in-policy offers of a search for alternatives, with their numbers in the list."""
    allowed = [(i, o) for i, o in enumerate(offers, start=1) if not o.get("policy_issues")]
    if not allowed:
        return "No flight on that day is within the travel policy; shall I look at another day?"
    return "In-policy alternatives for the same trip:\n" + "\n".join(
        _line(i, o) for i, o in allowed[:TOP]
    )


def _all_options(request: ModelRequest) -> str:
    offers = _last_offers(request)
    if not offers:
        return "Which options? Search for flights first."
    return "All options:\n" + "\n".join(_line(i, o) for i, o in enumerate(offers, start=1))


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
