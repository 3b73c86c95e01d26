"""The web chat over real HTTP against a real Temporal server, worker and uvicorn.

Each test drives the chat the way its page does (open, post, poll the state) and checks what the
employee would see, what the workflow holds, and what was booked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from agentflow.web import Chat
from examples.travel.demo import TRAVEL_CARDS, web_app
from examples.travel.store import trips_of
from tests.web.conftest import PROBE, Stack
from tests.web.support import (
    ChatPage,
    items,
    open_page,
    send,
    settled,
    start_conversation,
    state,
    until,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

BUSINESS = "I need a business class flight from ZRH to LHR on 2026-12-16"


@pytest_asyncio.fixture(loop_scope="session")
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        yield client


async def waiting_for_approval(http: httpx.AsyncClient, page: ChatPage, employee: str) -> None:
    """Searches business class (out of policy) and asks to book option 1."""
    assert (await send(http, page, BUSINESS)).status_code == 202
    await until(http, page, settled(1))
    assert (await send(http, page, "Book option 1")).status_code == 202
    await until(http, page, lambda s: s["user_messages"] == 2 and bool(s["waiting"]))


async def decide(stack: Stack, page: ChatPage, *, approve: bool, reason: str = "") -> None:
    (pending,) = [
        p
        for p in await stack.desk.pending("bob")
        if p.approval_id.startswith(page.conversation_id + "/")
    ]
    await stack.desk.decide(
        pending.approval_id,
        "bob",
        approve=approve,
        digest=pending.status.request.digest,
        reason=reason,
    )


async def test_search_results_are_offer_cards(stack: Stack, http: httpx.AsyncClient) -> None:
    page = await start_conversation(http, "alice")
    assert (await send(http, page, BUSINESS)).status_code == 202
    current = await until(http, page, settled(1))

    assert items(current, "user") == [{"kind": "user", "text": BUSINESS}]
    (tool,) = items(current, "tool")
    assert (tool["tool"], tool["status"]) == ("search_flights", "done")
    assert "origin=ZRH" in tool["arguments"] and "cabin=business" in tool["arguments"]
    (offers,) = items(current, "cards")
    assert offers["tool"] == "search_flights" and len(offers["cards"]) >= 3
    first = offers["cards"][0]
    fields = dict(first["fields"])
    assert first["badge"] == "Option 1" and first["title"].startswith("LX")
    assert fields["Cabin"].startswith("business") and fields["Price"].endswith(" EUR")
    assert fields["Departs"].startswith("2026-12-16 ")
    assert any("business class" in note for note in first["notes"])
    (answer,) = items(current, "agent")
    assert answer["text"].startswith("(offline planner) Options:")
    assert current["waiting"] == [] and current["activity"] == ""


async def test_an_approved_booking_is_shown_once_the_manager_approves(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    trips_before = trips_of(stack.engine, "alice")
    page = await start_conversation(http, "alice")
    await waiting_for_approval(http, page, "alice")
    current = await state(http, page)
    assert current["waiting"] == ["bob"] and not current["busy"]
    assert current["activity"] == "Waiting for approval from bob"
    (approval,) = items(current, "approval")
    assert approval["status"] == "pending" and approval["approvers"] == ["bob"]
    assert any("business class" in reason for reason in approval["reasons"])
    assert items(current, "tool")[-1] | {"arguments": ""} == {
        "kind": "tool",
        "tool": "book_flight",
        "status": "awaiting_approval",
        "arguments": "",
    }
    assert trips_of(stack.engine, "alice") == trips_before  # nothing booked while it waits

    await decide(stack, page, approve=True)
    current = await until(http, page, lambda s: not s["busy"] and not s["waiting"])

    (approval,) = items(current, "approval")
    assert (approval["status"], approval["approver"]) == ("approved", "bob")
    booked = [c for c in items(current, "cards") if c["tool"] == "book_flight"]
    (card,) = booked[0]["cards"]
    assert card["title"].startswith("Booked: booking #")
    assert dict(card["fields"])["Approved by"] == "bob"
    assert len(trips_of(stack.engine, "alice")) == len(trips_before) + 1
    (trip,) = [t for t in trips_of(stack.engine, "alice") if card["title"].endswith(f"#{t.id}")]
    assert (trip.approved_by, trip.cabin, trip.status) == ("bob", "business", "booked")


async def test_a_reloaded_page_in_a_new_web_process_shows_the_same_conversation(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    page = await start_conversation(http, "alice")
    assert (await send(http, page, BUSINESS)).status_code == 202
    before = await until(http, page, settled(1))
    # A second web app with its own secret and no memory of this conversation.
    fresh = web_app(stack.desk, Chat(stack.agents, stack.agent, cards=TRAVEL_CARDS))
    transport = httpx.ASGITransport(app=fresh)
    async with httpx.AsyncClient(transport=transport, base_url="http://fresh") as other:
        reopened = await open_page(other, f"/chat/{page.conversation_id}?as=alice")
        assert reopened.token != page.token
        assert await state(other, reopened) == before
        # The old page's token is not valid on the new app: reload to post again.
        refused = await send(other, page, "Book option 2")
        assert refused.status_code == 403


async def test_a_denial_is_shown_with_its_reason_and_nothing_is_booked(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    page = await start_conversation(http, "carol")
    await waiting_for_approval(http, page, "carol")
    await decide(stack, page, approve=False, reason="Fly economy, please")
    current = await until(http, page, lambda s: not s["busy"] and not s["waiting"])
    (approval,) = items(current, "approval")
    assert approval == {
        "kind": "approval",
        "status": "denied",
        "approver": "bob",
        "reason": "Fly economy, please",
    }
    (booking,) = [i for i in items(current, "tool") if i["tool"] == "book_flight"]
    assert booking["status"] == "failed"
    assert "Fly economy, please" in booking["error"]
    # The agent searched the same trip again and offers the in-policy alternatives.
    assert items(current, "tool")[-1]["tool"] == "search_flights"
    assert "In-policy alternatives for the same trip:" in items(current, "agent")[-1]["text"]
    assert not [c for c in items(current, "cards") if c["tool"] == "book_flight"]
    # Nothing on the denied day (the web tests share one database: carol may hold other trips).
    assert [t for t in trips_of(stack.engine, "carol") if "2026-12-16" in t.departure] == []


async def test_someone_elses_conversation_is_not_found(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    page = await start_conversation(http, "alice")
    assert (await send(http, page, "hello")).status_code == 202
    before = await until(http, page, settled(1))
    as_carol = {"as": "carol"}
    url = f"/chat/{page.conversation_id}"
    for response in (
        await http.get(url, params=as_carol),
        await http.get(url + "/state", params=as_carol),
        await http.post(url + "/messages", params=as_carol, data={"text": "hi", "token": "x"}),
    ):
        assert response.status_code == 404
        assert "hello" not in response.text and "no such conversation" in response.text
    assert (await http.get(url + "/state")).status_code == 401  # nobody named
    assert await state(http, page) == before


async def test_bad_posts_are_refused_and_change_nothing(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    page = await start_conversation(http, "alice")
    other = await start_conversation(http, "alice")
    before = await state(http, page)
    forged = await http.post(page.send_url, data={"text": "Book option 1", "token": other.token})
    assert forged.status_code == 403 and "reload" in forged.json()["error"]
    missing = await http.post(page.send_url, data={"text": "Book option 1"})
    assert missing.status_code == 403
    empty = await send(http, page, "   ")
    assert (empty.status_code, empty.json()) == (400, {"error": "the message is empty"})
    long = await send(http, page, "a" * 40_000)
    assert long.status_code == 400
    assert long.json()["error"] == "the message has 40000 characters; the limit is 32000"
    huge = await send(http, page, "a" * 70_000)
    assert huge.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        yield f"token={page.token}&text=".encode()
        yield b"a" * 70_000

    unmeasured = await http.post(
        page.send_url,
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert unmeasured.status_code == 411
    assert await state(http, page) == before
    transcript = await stack.agents.transcript(page.conversation_id)
    assert transcript.messages == ()


async def test_starting_a_conversation_needs_the_forms_token(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    refused = await http.post("/chat?as=alice", data={"token": "0" * 64})
    assert refused.status_code == 403 and "location" not in refused.headers
    anonymous = await http.post("/chat", data={"token": "0" * 64})
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    "conversation_id",
    ["conv-does-not-exist", "-dash", "a%20b", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "a" * 300],
)
async def test_unknown_or_malformed_conversations_are_not_found(
    http: httpx.AsyncClient, conversation_id: str
) -> None:
    response = await http.get(f"/chat/{conversation_id}", params={"as": "alice"})
    assert response.status_code == 404
    assert "<script>alert" not in response.text
    state_response = await http.get(f"/chat/{conversation_id}/state", params={"as": "alice"})
    assert state_response.status_code == 404


async def test_hostile_text_never_reaches_the_html(http: httpx.AsyncClient) -> None:
    hostile = "<script>alert(1)</script>"
    home = await http.get("/chat", params={"as": hostile})
    assert home.status_code == 200
    assert hostile not in home.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in home.text
    page = await start_conversation(http, "alice")
    assert (await send(http, page, hostile)).status_code == 202
    current = await until(http, page, settled(1))
    assert items(current, "user") == [{"kind": "user", "text": hostile}]  # data, as JSON
    reopened = await open_page(http, f"/chat/{page.conversation_id}?as=alice")
    assert "alert(1)" not in reopened.html  # the page itself never embeds conversation text


async def test_the_page_links_its_audit_timeline_and_serves_its_own_assets(
    http: httpx.AsyncClient,
) -> None:
    page = await start_conversation(http, "alice")
    assert f'href="/conversations/{page.conversation_id}/timeline"' in page.html
    script = await http.get("/chat/static/chat.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert "textContent" in script.text and "innerHTML" not in script.text
    for name in ("chat.py", "..%2Fchat.py", "%2E%2E%2F__init__.py"):
        assert (await http.get(f"/chat/static/{name}")).status_code == 404


async def test_a_running_tool_shows_as_progress_until_it_returns(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    stack.gate.clear()
    conversation = await stack.agents.start_conversation(PROBE, user="alice")
    page = await open_page(http, f"/chat/{conversation}?as=alice")
    try:
        assert (await send(http, page, "hold")).status_code == 202
        current = await until(http, page, lambda s: bool(items(s, "tool")))
        assert current["busy"] and current["activity"] == "Running hold…"
        assert [t["status"] for t in items(current, "tool")] == ["running"]
        assert current["waiting"] == []
    finally:
        stack.gate.set()
    current = await until(http, page, settled(1))
    assert [t["status"] for t in items(current, "tool")] == ["done"]
    assert items(current, "agent") == [{"kind": "agent", "text": "the tool said: released"}]
    assert current["activity"] == ""


async def test_a_turn_that_fails_says_so_and_the_conversation_goes_on(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    conversation = await stack.agents.start_conversation(PROBE, user="alice")
    page = await open_page(http, f"/chat/{conversation}?as=alice")
    assert (await send(http, page, "fail")).status_code == 202
    current = await until(http, page, settled(1))
    (error,) = items(current, "error")
    assert error["status"] == "model_error"
    assert error["text"].startswith("The model is unavailable right now")
    assert "switched off" in error["text"]
    assert (await send(http, page, "still there?")).status_code == 202
    current = await until(http, page, settled(2))
    assert [i["kind"] for i in current["items"]] == ["user", "error", "user", "agent"]
    assert items(current, "agent") == [{"kind": "agent", "text": "echo: still there?"}]


async def _next_view(lines: AsyncIterator[str]) -> dict[str, object]:
    """The next ``data:`` view of an event stream (comments and other fields skipped)."""
    async for line in lines:
        if line.startswith("data: "):
            return json.loads(line.removeprefix("data: "))
    raise AssertionError("the event stream ended")


async def test_the_event_stream_pushes_the_decision_while_the_page_is_open(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    page = await start_conversation(http, "carol")
    await waiting_for_approval(http, page, "carol")
    events = page.state_url.replace("/state", "/events")
    async with http.stream("GET", events) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        first = await _next_view(lines)
        assert first["waiting"] == ["bob"]
        await decide(stack, page, approve=False, reason="Fly economy, please")
        # Pushed without the page asking: the denial, then the in-policy alternatives.
        view = first
        while view["busy"] or view["waiting"] or "alternatives" not in json.dumps(view):
            view = await asyncio.wait_for(_next_view(lines), timeout=30)
    (approval,) = items(view, "approval")  # type: ignore[arg-type]
    assert (approval["status"], approval["reason"]) == ("denied", "Fly economy, please")
    assert "In-policy alternatives for the same trip:" in items(view, "agent")[-1]["text"]  # type: ignore[arg-type]


async def _next_text(lines: AsyncIterator[str]) -> dict[str, object]:
    """The data of the next ``event: text`` of an event stream (views skipped)."""
    named = ""
    async for line in lines:
        if line.startswith("event: "):
            named = line.removeprefix("event: ")
        elif line.startswith("data: ") and named == "text":
            return json.loads(line.removeprefix("data: "))
        elif not line:
            named = ""
    raise AssertionError("the event stream ended")


async def test_the_event_stream_sends_the_models_words_while_it_writes(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    stack.gate.clear()
    conversation = await stack.agents.start_conversation(PROBE, user="alice")
    page = await open_page(http, f"/chat/{conversation}?as=alice")
    events = page.state_url.replace("/state", "/events")
    try:
        async with http.stream("GET", events) as stream:
            lines = stream.aiter_lines()
            assert (await send(http, page, "write")).status_code == 202
            # The model holds its answer half-written: these words can only be live text.
            written = await asyncio.wait_for(_next_text(lines), timeout=30)
            assert written["text"] == "Writing "
            current = await state(http, page)
            assert current["busy"] and items(current, "agent") == []
    finally:
        stack.gate.set()
    current = await until(http, page, settled(1))
    assert items(current, "agent") == [{"kind": "agent", "text": "Writing the rest."}]


async def test_the_event_stream_is_refused_to_anyone_but_the_owner(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    page = await start_conversation(http, "alice")
    events = f"/chat/{page.conversation_id}/events"
    assert (await http.get(events, params={"as": "carol"})).status_code == 404
    assert (await http.get(events)).status_code == 401
    assert (await http.get("/chat/..%2Fetc/events", params={"as": "alice"})).status_code == 404
