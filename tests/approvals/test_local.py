"""The local channel when Slack is not configured: ``agentflow approvals`` and the web inbox.

Same desk, same rules: only the chain (or a delegate during a leave) decides, never the
requester, and a refused decision changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from agentflow.approvals import OrgChartSpec
from agentflow.cli import app
from agentflow.temporal import DevServer
from tests.approvals.slack_env import SlackEnv, slack_env

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, sqlite_engine: Engine) -> AsyncIterator[SlackEnv]:
    async with slack_env(await dev_server.client(), sqlite_engine) as env:
        yield env


async def cli(env: SlackEnv, dev_server: DevServer, *args: str) -> Result:
    """Run ``agentflow approvals ARGS`` as a user would, against this test's worker."""
    environment = {
        "TEMPORAL_ADDRESS": dev_server.address,
        "DATABASE_URL": str(env.org.engine.url),
        "AGENTFLOW_TASK_QUEUE": env.queue,
        "COLUMNS": "250",
    }
    runner = CliRunner()
    # The CLI runs its own event loop (asyncio.run): give it a thread of its own.
    return await asyncio.to_thread(runner.invoke, app, ["approvals", *args], env=environment)


async def listed(env: SlackEnv, dev_server: DevServer, approval_id: str, who: str) -> bool:
    for _ in range(50):  # Temporal's visibility store may lag a moment behind a new workflow
        if approval_id in (await cli(env, dev_server, "list", "--as", who)).stdout:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_cli_lists_shows_and_decides_by_the_rules(
    env: SlackEnv, dev_server: DevServer
) -> None:
    approval_id, request = await env.start_approval()

    assert await listed(env, dev_server, approval_id, "bob")
    assert approval_id not in (await cli(env, dev_server, "list", "--as", "mallory")).stdout
    shown = await cli(env, dev_server, "show", approval_id)
    assert shown.exit_code == 0 and request.digest in shown.stdout and "alice" in shown.stdout

    refused = [
        await cli(env, dev_server, "approve", approval_id, "--as", "alice", "--yes"),
        await cli(env, dev_server, "approve", approval_id, "--as", "mallory", "--yes"),
        await cli(env, dev_server, "approve", approval_id, "--as", "bob", "--digest", "f" * 16),
        await cli(env, dev_server, "approve", "conv-x/approval/nope", "--as", "bob", "--yes"),
        await cli(env, dev_server, "deny", approval_id, "--as", "bob", "--reason", " ", "--yes"),
    ]
    assert [r.exit_code for r in refused] == [2, 2, 2, 2, 2]
    assert "requester cannot approve" in refused[0].stderr
    assert "mallory is not an authorised approver" in refused[1].stderr
    assert "not the call you were shown" in refused[2].stderr
    assert "no approval" in refused[3].stderr
    assert "denial needs a reason" in refused[4].stderr
    assert await env.untouched(approval_id)

    denied = await cli(
        env, dev_server, "deny", approval_id, "--as", "bob", "--reason", "not now",
        "--digest", request.digest[:12],
    )  # fmt: skip
    assert denied.exit_code == 0, denied.stderr
    assert "denied by bob: not now" in denied.stdout
    result = await env.result(approval_id)
    assert (result.decision.outcome, result.decision.reason) == ("denied", "not now")


async def test_cli_shows_the_call_and_decides_nothing_unconfirmed(
    env: SlackEnv, dev_server: DevServer
) -> None:
    """Without --digest or --yes, and no terminal to confirm on, nothing is decided."""
    approval_id, request = await env.start_approval()
    for command in (("approve",), ("deny", "--reason", "no")):
        unconfirmed = await cli(env, dev_server, *command, approval_id, "--as", "bob")
        assert unconfirmed.exit_code == 2
        assert "not decided: confirm the call shown" in unconfirmed.stderr
        assert request.digest in unconfirmed.stdout  # the exact call was shown first
        assert "Traceback" not in unconfirmed.stdout + unconfirmed.stderr
    assert await env.untouched(approval_id)


async def test_cli_lists_whole_ids_and_json(env: SlackEnv, dev_server: DevServer) -> None:
    approval_id, request = await env.start_approval()
    assert await listed(env, dev_server, approval_id, "bob")
    environment = {
        "TEMPORAL_ADDRESS": dev_server.address,
        "DATABASE_URL": str(env.org.engine.url),
        "AGENTFLOW_TASK_QUEUE": env.queue,
        "COLUMNS": "60",  # narrower than the id
    }
    narrow = await asyncio.to_thread(
        CliRunner().invoke, app, ["approvals", "list", "--as", "bob"], env=environment
    )
    assert approval_id in narrow.stdout.splitlines()
    as_json = await cli(env, dev_server, "list", "--as", "bob", "--json")
    (item,) = [i for i in json.loads(as_json.stdout) if i["approval_id"] == approval_id]
    assert item["request"]["digest"] == request.digest and item["current_approvers"] == ["bob"]


async def test_cli_delegate_decides_during_the_leave(env: SlackEnv, dev_server: DevServer) -> None:
    now = datetime.now(UTC)
    env.org.add_leave("bob", "carol", now - timedelta(hours=1), now + timedelta(days=1))
    approval_id, _ = await env.start_approval()

    assert await listed(env, dev_server, approval_id, "carol")
    approved = await cli(env, dev_server, "approve", approval_id, "--as", "carol", "--yes")

    assert approved.exit_code == 0, approved.stderr
    assert "approved by carol for bob" in approved.stdout
    result = await env.result(approval_id)
    assert (result.decision.approver, result.decided_by) == ("bob", "carol")


async def test_cli_loads_an_org_chart(env: SlackEnv, dev_server: DevServer, tmp_path: Path) -> None:
    spec = OrgChartSpec.model_validate(
        {
            "employees": [
                {"id": "zoe", "name": "Zoe", "manager": "bob", "slack_user_id": "U0ZOE"},
            ],
            "limits": {"manager": 3_000},
        }
    )
    path = tmp_path / "org.json"
    path.write_text(spec.model_dump_json())
    loaded = await cli(env, dev_server, "org", "load", str(path))
    assert loaded.exit_code == 0, loaded.stderr
    assert env.org.approver_chain("zoe", 100) == ("bob", "dana")
    path.write_text('{"employees": [{"id": "x"}]}')
    assert (await cli(env, dev_server, "org", "load", str(path))).exit_code == 2


WHERE = {
    "offer_id": "the output of read_reviews (untrusted)",
    "price": "[bold red]the employee's message[/] <b>",
}
"""Where the request's arguments came from; the second as hostile as a value can be."""


async def test_the_cli_and_the_inbox_say_where_each_argument_came_from(
    env: SlackEnv, dev_server: DevServer
) -> None:
    approval_id, _ = await env.start_approval(provenance=WHERE)
    shown = await cli(env, dev_server, "show", approval_id)
    assert shown.exit_code == 0, shown.stderr
    assert "Source of offer_id: the output of read_reviews (untrusted)" in shown.stdout
    assert "Source of price: [bold red]the employee's message[/] <b>" in shown.stdout
    page = ""
    for _ in range(50):
        page = (await env.http.get("/approvals", params={"as": "bob"})).text
        if approval_id in page:
            break
        await asyncio.sleep(0.1)
    article = next(a for a in page.split("<article>") if approval_id in a)
    assert "Source of offer_id" in article and "the output of read_reviews (untrusted)" in article
    assert "[bold red]the employee&#x27;s message[/] &lt;b&gt;</dd>" in article


def form(page: str, approval_id: str) -> dict[str, str]:
    """The hidden fields of the approve form for ``approval_id`` on an inbox page."""
    article = next(a for a in page.split("<article>") if approval_id in a)
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', article)
    return dict(fields[:3])


async def test_inbox_lists_and_decides_by_the_rules(env: SlackEnv) -> None:
    approval_id, request = await env.start_approval()
    page = ""
    for _ in range(50):
        page = (await env.http.get("/approvals", params={"as": "bob"})).text
        if approval_id in page:
            break
        await asyncio.sleep(0.1)
    assert approval_id in page and request.reasons[0] in page
    fields = form(page, approval_id)
    assert fields["digest"] == request.digest

    mallory = await env.http.get("/approvals", params={"as": "mallory"})
    assert approval_id not in mallory.text
    # Someone in no directory may still be named by a request; nothing here names zed.
    zed = await env.http.get("/approvals", params={"as": "zed"})
    assert zed.status_code == 200 and approval_id not in zed.text

    # A form token is bound to the person it was made for: alice cannot reuse bob's.
    forged = await env.http.post(
        "/approvals/decide", params={"as": "alice"}, data=fields | {"decision": "approve"}
    )
    assert forged.status_code == 403
    no_reason = await env.http.post(
        "/approvals/decide", params={"as": "bob"}, data=fields | {"decision": "deny"}
    )
    assert no_reason.status_code == 303
    assert "denial+needs+a+reason" in no_reason.headers["location"]
    assert await env.untouched(approval_id)

    approved = await env.http.post(
        "/approvals/decide", params={"as": "bob"}, data=fields | {"decision": "approve"}
    )
    assert approved.status_code == 303
    assert approved.headers["location"].startswith("/approvals?message=Approved")
    assert (await env.result(approval_id)).decision.approver == "bob"
