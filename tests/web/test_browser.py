"""The chat and the inbox in a real browser: Debian's chromium, driven by playwright.

The browser is the system's ``/usr/bin/chromium`` (``make browser`` installs it); playwright's
own browser downloads are never used. Without chromium these tests fail under CI (``CI=true``)
and skip elsewhere, saying why. Screenshots of each step land in ``test-artifacts/browser/``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from examples.travel.dates import parse_day
from examples.travel.store import trips_of
from tests.web.conftest import PROBE, Stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
# A day no other web test books: the web tests share one database, and a traveller holds one
# booking per flight.
BUSINESS = "I need a business class flight from ZRH to LHR on 2026-12-18"
TIMEOUT_MS = 30_000

expect.set_options(timeout=TIMEOUT_MS)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport={"width": 1000, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    await context.close()


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def say(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def open_new_chat(context: BrowserContext, url: str, employee: str) -> Page:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{url}/chat?as={employee}")
    await page.get_by_role("button", name="Start a new conversation").click()
    await expect(page.locator("#text")).to_be_visible()
    await expect(page.locator("#log")).to_be_empty()
    assert errors == []
    return page


async def test_an_out_of_policy_trip_is_booked_once_the_manager_approves_in_the_inbox(
    stack: Stack, context: BrowserContext
) -> None:
    chat = await open_new_chat(context, stack.url, "carol")
    conversation_id = chat.url.split("/chat/", 1)[1].split("?", 1)[0]
    timeline = chat.locator("#timeline")
    assert await timeline.get_attribute("href") == f"/conversations/{conversation_id}/timeline"

    await say(chat, BUSINESS)
    await expect(chat.locator(".msg.user")).to_have_text(BUSINESS)
    offers = chat.locator('.cards[data-tool="search_flights"] .card')
    await expect(offers.first).to_contain_text("Option 1")
    assert await offers.count() >= 3
    first = offers.first
    for text in ("business", "EUR", "Departs", "Arrives", "Out of policy"):
        await expect(first).to_contain_text(text)
    await screenshot(chat, "1-offers")

    await say(chat, "Book option 1")
    pending = chat.locator('.approval[data-status="pending"]')
    await expect(pending).to_contain_text("Waiting for your manager's approval (bob)")
    await expect(chat.locator("#activity")).to_have_text("Waiting for approval from bob")
    await screenshot(chat, "2-waiting-for-approval")

    inbox = await context.new_page()
    await inbox.goto(f"{stack.url}/approvals?as=bob")
    request = inbox.locator("article").filter(has_text=conversation_id)
    for _ in range(100):  # the inbox lists from Temporal's visibility store, which may lag
        if await request.count():
            break
        await asyncio.sleep(0.2)
        await inbox.reload()
    await expect(request).to_contain_text("Trip for carol")
    await screenshot(inbox, "3-manager-inbox")
    await request.get_by_role("button", name="Approve", exact=True).click()
    await expect(inbox.locator(".note")).to_contain_text("Approved")

    booked = chat.locator('.cards[data-tool="book_flight"] .card')
    await expect(booked).to_contain_text("Booked: booking #")
    await expect(booked).to_contain_text("bob")
    await expect(chat.locator('.approval[data-status="approved"]')).to_have_text("Approved by bob.")
    await expect(chat.locator(".msg.agent").last).to_contain_text("approved by bob")
    await expect(pending).to_have_count(0)
    await screenshot(chat, "4-booked")

    await chat.reload()  # the page's state comes from the workflow, not from the browser
    await expect(chat.locator('.cards[data-tool="book_flight"] .card')).to_contain_text("bob")
    await expect(chat.locator(".msg.user")).to_have_count(2)
    title = await booked.locator("h3").inner_text()
    booking_id = int(title.rsplit("#", 1)[1])
    (trip,) = [t for t in trips_of(stack.engine, "carol") if t.id == booking_id]
    assert (trip.approved_by, trip.cabin) == ("bob", "business")


HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


async def test_hostile_text_is_shown_as_text(stack: Stack, context: BrowserContext) -> None:
    # The probe agent echoes the message, so the hostile text comes back as model output too.
    conversation = await stack.agents.start_conversation(PROBE, user="alice")
    chat = await context.new_page()
    await chat.goto(f"{stack.url}/chat/{conversation}?as=alice")
    await say(chat, HOSTILE)
    await expect(chat.locator(".msg.user")).to_have_text(HOSTILE)
    await expect(chat.locator(".msg.agent")).to_have_text(f"echo: {HOSTILE}")
    assert await chat.locator("#log img, #log script").count() == 0
    assert await chat.evaluate("window.__pwned") is None
    await screenshot(chat, "5-hostile-text")

    home = await context.new_page()
    await home.goto(f"{stack.url}/chat?{urlencode({'as': HOSTILE})}")
    await expect(home.locator("strong")).to_have_text(HOSTILE)
    assert await home.evaluate("window.__pwned") is None


async def test_the_answer_shows_while_the_model_writes_it(
    stack: Stack, context: BrowserContext
) -> None:
    stack.gate.clear()
    conversation = await stack.agents.start_conversation(PROBE, user="alice")
    chat = await context.new_page()
    await chat.goto(f"{stack.url}/chat/{conversation}?as=alice")
    try:
        await say(chat, "write")
        # The model holds its answer half-written: the page shows the first words meanwhile.
        await expect(chat.locator(".msg.partial")).to_have_text("Writing ")
        assert await chat.locator(".msg.agent:not(.partial)").count() == 0
        await screenshot(chat, "6-writing")
    finally:
        stack.gate.set()
    await expect(chat.locator(".msg.agent")).to_have_text("Writing the rest.")
    await expect(chat.locator(".msg.partial")).to_have_count(0)


async def test_a_denial_arrives_while_the_page_is_open_with_alternatives_to_book(
    stack: Stack, context: BrowserContext
) -> None:
    chat = await open_new_chat(context, stack.url, "alice")
    conversation_id = chat.url.split("/chat/", 1)[1].split("?", 1)[0]
    await expect(chat.get_by_label("Message to travel")).to_be_focused()

    # A refused send stays on screen until the employee's next action.
    await say(chat, "a" * 40_000)
    error = chat.locator("#error")
    await expect(error).to_have_text("the message has 40000 characters; the limit is 32000")
    await chat.wait_for_timeout(1500)  # pushes arrive meanwhile: the error is still there
    await expect(error).to_be_visible()
    await expect(chat.locator("#text")).to_be_focused()
    await screenshot(chat, "6-send-error-stays")
    await chat.fill("#text", "")
    await expect(error).to_be_hidden()

    await say(chat, "I need a business class flight to London on the 18th of December")
    await expect(chat.locator('.cards[data-tool="search_flights"] .card').first).to_be_visible()
    await say(chat, "Book option 2")
    await expect(chat.locator('.approval[data-status="pending"]')).to_contain_text(
        "I'll let you know here when bob decides."
    )
    (pending,) = [
        p for p in await stack.desk.pending("bob") if p.approval_id.startswith(conversation_id)
    ]
    # bob denies elsewhere (Slack, the inbox, the CLI); the open page is told without a reload.
    await stack.desk.decide(
        pending.approval_id,
        "bob",
        approve=False,
        digest=pending.status.request.digest,
        reason="economy is fine for London",
    )
    notice = chat.locator("#notice")
    await expect(notice).to_contain_text("bob denied your request: economy is fine for London.")
    await expect(chat.locator(".msg.agent").last).to_contain_text(
        "In-policy alternatives for the same trip:"
    )
    await screenshot(chat, "7-denied-with-alternatives")

    await say(chat, "Book option 1")
    booked = chat.locator('.cards[data-tool="book_flight"] .card')
    await expect(booked).to_contain_text("Booked: booking #")
    await expect(notice).to_be_hidden()
    title = await booked.locator("h3").inner_text()
    (trip,) = [t for t in trips_of(stack.engine, "alice") if t.id == int(title.rsplit("#", 1)[1])]
    day = parse_day("18 December", date.today())
    assert (trip.cabin, trip.approved_by, trip.departure[:10]) == ("economy", None, str(day))
    await screenshot(chat, "8-alternative-booked")

    await chat.set_viewport_size({"width": 380, "height": 800})
    composer = await chat.locator("#composer").bounding_box()
    button = await chat.locator("#send").bounding_box()
    assert composer is not None and button is not None
    assert button["width"] > 300  # stacked under the text box, full width
    width = await chat.evaluate("document.documentElement.scrollWidth")
    assert width <= 380  # nothing runs off a phone's screen
    await screenshot(chat, "9-narrow-screen")
