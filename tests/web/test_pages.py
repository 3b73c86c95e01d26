"""Every page escapes every value it shows, and every form is signed the one way.

The templates are rendered with hostile text in each value they take, one marker per value, so
a value left out or let through unescaped (``|safe``, ``{% autoescape false %}``, HTML built in
Python) fails with its name. The pages are then fetched over HTTP from the running stack, with
hostile text coming in through the URL.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

import httpx
import pytest
import pytest_asyncio

from agentflow.audit.store import SpanRecord
from agentflow.audit.tree import span_trees, steps_only
from agentflow.web.csrf import FormTokens
from agentflow.web.inbox import _Card  # pyright: ignore[reportPrivateUsage]
from agentflow.web.pages import TEMPLATES
from agentflow.web.timeline import ChainStatus, trace_views
from tests.web.conftest import Stack
from tests.web.support import start_conversation
from tests.web.test_timeline import make_span


def hostile(name: str) -> str:
    """Markup that names the value it was put in."""
    return f"<b data-value='{name}'>\"&</b>"


def assert_escaped(page: str, *names: str) -> None:
    """Each named value is on the page, and only as text."""
    for name in names:
        assert hostile(name) not in page, f"{name} is not escaped"
        assert html.escape(hostile(name)) in page, f"{name} is not shown"
    assert "<b data-value" not in page


def render(template: str, context: dict[str, Any]) -> str:
    return TEMPLATES.get_template(template).render(context)


def test_the_check_fails_on_an_unescaped_template() -> None:
    unescaped = TEMPLATES.env.from_string("<p>{{ value|safe }}</p>")
    with pytest.raises(AssertionError, match="value is not escaped"):
        assert_escaped(unescaped.render(value=hostile("value")), "value")


def test_no_template_turns_escaping_off() -> None:
    assert TEMPLATES.env.autoescape is True
    folder = files("agentflow.web").joinpath("templates")
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".html"))
    assert names == [
        "base.html",
        "chat.html",
        "chat_home.html",
        "inbox.html",
        "signin.html",
        "timeline.html",
    ]
    for name in names:
        source = folder.joinpath(name).read_text("utf-8")
        assert "|safe" not in source.replace(" ", "") and "autoescape" not in source, name


def test_the_inbox_escapes_every_value_of_a_card() -> None:
    card = _Card(
        approval_id=hostile("approval_id"),
        digest=hostile("digest"),
        token=hostile("token"),
        title=hostile("title"),
        rows=[(hostile("row name"), hostile("row value"))],
        reasons=(hostile("reason"),),
        delegate_for=hostile("delegate_for"),
        delegate_until=hostile("delegate_until"),
        action=hostile("action"),
        timeline=hostile("timeline"),
        editable=[(hostile("argument"), hostile("argument value"))],
    )
    context = {
        "employee": hostile("employee"),
        "cards": [card],
        "message": hostile("message"),
        "problem": None,
        "edit_prefix": "edit.",
    }
    page = render("inbox.html", context)
    assert_escaped(page, "employee", "message", "approval_id", "digest", "token", "title")
    assert_escaped(page, "row name", "row value", "reason", "delegate_for", "delegate_until")
    assert_escaped(page, "action", "timeline", "argument", "argument value")
    refused = render("inbox.html", context | {"cards": None, "problem": hostile("problem")})
    assert_escaped(refused, "problem")


def test_the_chat_pages_escape_every_value() -> None:
    keys = [
        "employee",
        "agent",
        "conversation_id",
        "state_url",
        "events_url",
        "send_url",
        "new_url",
        "token",
    ]
    keys += ["timeline_url", "script_url", "style_url"]
    assert_escaped(render("chat.html", {key: hostile(key) for key in keys}), *keys)
    home = {"employee": hostile("employee"), "action": hostile("action"), "problem": None}
    home |= {"token": hostile("token"), "style_url": hostile("style_url")}
    assert_escaped(render("chat_home.html", home), *home.keys() - {"problem"})
    refused = home | {"problem": hostile("problem")}
    assert_escaped(render("chat_home.html", refused), "problem")


def test_the_sign_in_pages_escape_every_value() -> None:
    identity = {"identity_notice": hostile("identity_notice"), "sign_in": hostile("sign_in")}
    failed = render("signin.html", {"problem": hostile("problem")} | identity)
    assert_escaped(failed, "problem", "identity_notice")
    asking = {"employee": None, "cards": None, "message": None, "problem": None}
    assert_escaped(render("inbox.html", asking | {"edit_prefix": "e."} | identity), *identity)
    home = {"employee": None, "action": "", "token": "", "problem": None, "style_url": "s"}
    assert_escaped(render("chat_home.html", home | identity), *identity)
    refused = {"conversation_id": "", "problem": hostile("problem")} | identity
    assert_escaped(render("timeline.html", refused), "problem", *identity)


def span(span_id: str, parent: str | None, name: str, attributes: dict[str, Any]) -> SpanRecord:
    return make_span(span_id, parent, name, 0, 1, attributes)


def test_the_timeline_escapes_every_value_of_every_kind_of_step() -> None:
    h = hostile
    approval = {
        "agentflow.step": "approval",
        "agentflow.approval.id": h("approval id"),
        "agentflow.approval.event": "requested",
        "agentflow.approval.digest": h("approval digest"),
        "agentflow.approval.requester": h("requester"),
        "agentflow.approval.approvers": [h("approver")],
        "agentflow.approval.reasons": [h("approval reason")],
        "agentflow.approval.arguments": h("approval arguments"),
    }
    decided = approval | {
        "agentflow.approval.event": h("event"),
        "agentflow.approval.outcome": h("outcome"),
        "agentflow.approval.approver": h("decided for"),
        "agentflow.approval.decided_by": h("decided by"),
        "agentflow.approval.decision_reason": h("decision reason"),
    }
    vote = {"agentflow.step": "vote", "agentflow.vote.approve": True}
    rule = {
        "name": "agentflow.rule",
        "attributes": {
            "agentflow.rule.name": h("rule"),
            "agentflow.rule.verdict": h("verdict"),
            "agentflow.rule.reasons": [h("rule reason")],
        },
    }
    records = [
        span(
            "01",
            None,
            "run",
            {
                "agentflow.step": "run",
                "gen_ai.conversation.id": h("conversation"),
                "gen_ai.agent.name": h("agent"),
                "enduser.id": h("user"),
                "gen_ai.usage.input_tokens": h("input tokens"),
                "gen_ai.usage.output_tokens": h("output tokens"),
            },
        ),
        span(
            "02",
            "01",
            "user message",
            {
                "agentflow.step": "user_message",
                "agentflow.user_message": h("message"),
                "agentflow.reply.status": h("reply"),
            },
        ),
        span(
            "03",
            "02",
            "chat",
            {
                "agentflow.step": "chat",
                "gen_ai.request.model": h("model"),
                "gen_ai.provider.name": h("provider"),
                "gen_ai.response.finish_reasons": [h("finish")],
                "gen_ai.output.messages": h("answer"),
            },
        ),
        span(
            "04",
            "02",
            "tool",
            {
                "agentflow.step": "tool",
                "gen_ai.tool.name": h("tool"),
                "gen_ai.tool.call.id": h("call id"),
                "agentflow.tool.outcome": h("tool outcome"),
                "gen_ai.tool.call.arguments": h("arguments"),
                "gen_ai.tool.call.result": h("result"),
            },
        ),
        dataclasses.replace(
            make_span(
                "05",
                "04",
                "precondition",
                0,
                1,
                {
                    "agentflow.step": "precondition",
                    "agentflow.precondition.decision": h("decision"),
                    "agentflow.precondition.approved_by": h("approved by"),
                },
                [rule],
            ),
            status="error",
            status_message=h("status message"),
        ),
        span("06", "02", "StartChildWorkflow:" + h("workflow"), {}),
        span("07", "06", "approval requested", approval),
        span("08", "06", "approval decided", decided),
        span(
            "09",
            "06",
            "vote",
            vote
            | {
                "agentflow.approval.approver": h("voter"),
                "agentflow.vote.result": h("vote result"),
                "agentflow.vote.rejection": h("rejection"),
            },
        ),
        span(
            "10",
            "06",
            "refused vote",
            vote
            | {
                "agentflow.vote.result": "refused",
                "agentflow.approval.approver": h("refused voter"),
                "agentflow.vote.channel_user": h("channel user"),
                "agentflow.vote.channel": h("channel"),
                "agentflow.vote.rejection": h("refusal"),
            },
        ),
        span("11", "01", h("span name"), {}),
    ]
    chain = ChainStatus(
        ok=False,
        records=11,
        broken_at=3,
        problems=(h("problem"),),
        disowned_spans=frozenset({"05".ljust(16, "0")}),
    )
    context = {
        "conversation_id": h("conversation id"),
        "problem": None,
        "viewer": h("viewer"),
        "chain": chain,
        "traces": trace_views(steps_only(span_trees(records)), chain),
    }
    page = render("timeline.html", context)
    values: list[str] = []
    for record in records:
        values += [v for v in record.attributes.values() if isinstance(v, str)]
        values += [v for vs in record.attributes.values() if isinstance(vs, list) for v in vs]
    names = {v.split("'")[1] for v in values if v.startswith("<b data-value=")}
    names |= {"conversation id", "viewer", "problem", "status message", "workflow", "span name"}
    names |= {"rule", "verdict", "rule reason"}
    assert_escaped(page, *sorted(names))
    refused = render("timeline.html", {"conversation_id": "", "problem": h("refusal page")})
    assert_escaped(refused, "refusal page")


# -- form tokens ----------------------------------------------------------------------------


def test_a_form_token_is_bound_to_its_purpose_and_every_value() -> None:
    tokens = FormTokens(b"secret")
    token = tokens.issue("approval", "bob", "conv-1/approval/call-1", "d" * 64)
    assert tokens.valid(token, "approval", "bob", "conv-1/approval/call-1", "d" * 64)
    assert not tokens.valid(token, "approval", "alice", "conv-1/approval/call-1", "d" * 64)
    assert not tokens.valid(token, "approval", "bob", "conv-1/approval/call-2", "d" * 64)
    assert not tokens.valid(token, "approval", "bob", "conv-1/approval/call-1", "e" * 64)
    assert not tokens.valid(token, "chat", "bob", "conv-1/approval/call-1", "d" * 64)
    assert not FormTokens(b"other").valid(token, "approval", "bob", "conv-1/approval/call-1")
    # Values are kept apart whatever they hold.
    assert not tokens.valid(tokens.issue("chat", "a\nb", "c"), "chat", "a", "b\nc")
    # Whatever a browser posts is an answer, never a crash.
    assert not tokens.valid("é" * 64, "chat", "bob", "")
    assert not tokens.valid("\udcff", "chat", "bob", "")
    assert FormTokens().issue("chat", "bob") != FormTokens().issue("chat", "bob")


# -- over HTTP ------------------------------------------------------------------------------

HOSTILE = "<script>alert('x')</script>"


@pytest_asyncio.fixture(loop_scope="session")
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        yield client


@pytest.mark.asyncio(loop_scope="session")
async def test_a_hostile_handle_is_text_on_the_chat_page(http: httpx.AsyncClient) -> None:
    page = await start_conversation(http, HOSTILE)
    assert HOSTILE not in page.html and "alert('x')" not in page.html
    assert f"Signed in as <strong>{html.escape(HOSTILE)}</strong>" in page.html
    assert f"<title>Chat — {html.escape(HOSTILE)}</title>" in page.html


@pytest.mark.asyncio(loop_scope="session")
async def test_the_inbox_shows_a_hostile_handle_and_message_as_text(
    http: httpx.AsyncClient,
) -> None:
    stranger = await http.get("/approvals", params={"as": HOSTILE})
    assert stranger.status_code == 200  # no request names them: nothing to decide
    assert "Nothing waits" in stranger.text
    assert HOSTILE not in stranger.text and html.escape(HOSTILE) in stranger.text
    noted = await http.get("/approvals", params={"as": "bob", "message": HOSTILE})
    assert noted.status_code == 200
    assert HOSTILE not in noted.text
    assert f'<p class="note">{html.escape(HOSTILE)}</p>' in noted.text
