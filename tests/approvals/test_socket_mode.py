"""Slack clicks over Socket Mode: slack-sdk's real ``SocketModeClient`` against a local server.

The fake Slack hands out a WebSocket URL for the app-level token, greets the client with
``hello``, pushes ``interactive`` envelopes as Slack does and records the acknowledgements; a
real Temporal dev server runs the approval workflow behind them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import Any

import pytest
import pytest_asyncio
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine

from agentflow.approvals.slack import (
    APPROVE_ACTION,
    DENY_ACTION,
    SlackInteractions,
    connect_socket_mode,
)
from agentflow.exceptions import ConfigurationError
from agentflow.temporal import DevServer
from tests.approvals.fake_slack import Call, FakeSlack, click, submit_reason
from tests.approvals.slack_env import SlackEnv, slack_env

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Socket:
    env: SlackEnv
    client: SocketModeClient

    @property
    def slack(self) -> FakeSlack:
        return self.env.slack

    async def request_to(self, approval_id: str, user: str = "U0BOB") -> Call:
        (call,) = await self.slack.wait_for(
            "chat.postMessage",
            lambda c: "blocks" in c.args and c.mentions(approval_id),
            channel=user,
        )
        return call


def web_client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=FakeSlack.TOKEN, base_url=fake.base_url)


def clicked(call: Call, action: str, user: str) -> dict[str, Any]:
    return click(call.args, action, user, channel=call.response["channel"], ts=call.response["ts"])


@pytest_asyncio.fixture(loop_scope="session")
async def env(dev_server: DevServer, sqlite_engine: Engine) -> AsyncIterator[SlackEnv]:
    async with slack_env(await dev_server.client(), sqlite_engine) as env:
        yield env


@pytest_asyncio.fixture(loop_scope="session")
async def socket(env: SlackEnv) -> AsyncIterator[Socket]:
    client = await connect_socket_mode(env.interactions, FakeSlack.APP_TOKEN, web_client(env.slack))
    try:
        yield Socket(env, client)
    finally:
        await client.close()


async def test_connecting_opens_one_websocket_with_the_app_token(socket: Socket) -> None:
    (opened,) = socket.slack.of("apps.connections.open")
    assert opened.response["ok"] is True
    assert opened.response["url"].startswith("ws://127.0.0.1:")
    await socket.slack.socket()
    assert socket.slack.connections == 1
    assert await socket.client.is_connected()


async def test_an_approve_envelope_is_acknowledged_and_decides(socket: Socket) -> None:
    env = socket.env
    approval_id, request = await env.start_approval()
    message = await socket.request_to(approval_id)

    envelope = await socket.slack.push(clicked(message, APPROVE_ACTION, "U0BOB"))

    assert await socket.slack.ack_of(envelope) == {"envelope_id": envelope}
    result = await env.result(approval_id)
    assert (result.decision.outcome, result.decision.approver) == ("approved", "bob")
    assert result.decision.digest == request.digest
    where = {"channel": message.response["channel"], "ts": message.response["ts"]}
    (update,) = await socket.slack.wait_for("chat.update", **where)
    assert "actions" not in [b["type"] for b in update.args["blocks"]]
    assert update.args["blocks"][-1]["text"]["text"] == ":white_check_mark: *Approved* by <@U0BOB>."
    record = env.ledger.get(approval_id)
    assert record is not None
    assert (record.state, record.decided_by, record.digest) == ("approved", "bob", request.digest)


async def test_a_click_by_someone_else_is_acknowledged_and_changes_nothing(socket: Socket) -> None:
    env = socket.env
    approval_id, _ = await env.start_approval()
    message = await socket.request_to(approval_id)

    # carol is in the org chart but not an approver; U0STRANGER is not in it at all.
    by_carol = await socket.slack.push(clicked(message, APPROVE_ACTION, "U0CAROL"))
    by_stranger = await socket.slack.push(clicked(message, APPROVE_ACTION, "U0STRANGER"))

    assert await socket.slack.ack_of(by_carol) == {"envelope_id": by_carol}
    assert await socket.slack.ack_of(by_stranger) == {"envelope_id": by_stranger}
    (to_carol,) = await socket.slack.wait_for("chat.postEphemeral", user="U0CAROL")
    assert to_carol.args["channel"] == message.response["channel"]
    assert to_carol.args["text"].startswith("Your decision was not recorded:")
    (to_stranger,) = await socket.slack.wait_for("chat.postEphemeral", user="U0STRANGER")
    assert to_stranger.args["text"] == "You are not an approver of this request: nothing changed."
    await env.interactions.drain()
    assert await env.untouched(approval_id)
    assert socket.slack.of("chat.update") == []
    record = env.ledger.get(approval_id)
    assert record is not None and record.state == "pending"


async def test_deny_opens_the_form_and_its_submission_denies_with_the_reason(
    socket: Socket,
) -> None:
    env = socket.env
    approval_id, _ = await env.start_approval()
    message = await socket.request_to(approval_id)

    deny = clicked(message, DENY_ACTION, "U0BOB")
    envelope = await socket.slack.push(deny)
    assert await socket.slack.ack_of(envelope) == {"envelope_id": envelope}
    (opened,) = await socket.slack.wait_for("views.open", trigger_id=deny["trigger_id"])
    view = opened.args["view"]

    # An empty reason: the ack carries Slack's validation answer and the modal stays open.
    empty = await socket.slack.push(submit_reason(view, "U0BOB", "  "))
    assert await socket.slack.ack_of(empty) == {
        "envelope_id": empty,
        "payload": {"response_action": "errors", "errors": {"reason": "Say why you deny it."}},
    }
    assert await env.untouched(approval_id)

    reason = await socket.slack.push(submit_reason(view, "U0BOB", "Economy is fine for 90 min"))
    assert await socket.slack.ack_of(reason) == {"envelope_id": reason}
    result = await env.result(approval_id)
    assert (result.decision.outcome, result.decision.reason) == (
        "denied",
        "Economy is fine for 90 min",
    )
    (update,) = await socket.slack.wait_for("chat.update", ts=message.response["ts"])
    assert update.args["blocks"][-1]["text"]["text"] == (
        ":x: *Denied* by <@U0BOB>: Economy is fine for 90 min"
    )
    record = env.ledger.get(approval_id)
    assert record is not None
    assert (record.state, record.reason) == ("denied", "Economy is fine for 90 min")


async def test_malformed_envelopes_are_acknowledged_and_the_next_click_still_works(
    socket: Socket,
) -> None:
    env = socket.env
    approval_id, _ = await env.start_approval()
    message = await socket.request_to(approval_id)

    await socket.slack.push_raw("{this is not json")
    await socket.slack.push_raw(json.dumps({"type": "interactive", "envelope_id": "no-payload"}))
    await socket.slack.push_raw(
        json.dumps({"type": "interactive", "envelope_id": "list-payload", "payload": [1, 2]})
    )
    odd = [
        await socket.slack.push("just text"),
        await socket.slack.push({"type": "block_actions", "actions": "nope", "user": 7}),
        await socket.slack.push(
            {
                "type": "block_actions",
                "user": {"id": "U0BOB"},
                "actions": [{"action_id": APPROVE_ACTION, "value": "{not json"}],
            }
        ),
        await socket.slack.push({"type": "view_submission", "view": "?"}),
        await socket.slack.push({"anything": True}, kind="events_api"),
    ]
    for envelope in ["no-payload", "list-payload", *odd]:
        assert await socket.slack.ack_of(envelope) == {"envelope_id": envelope}

    # Well-formed, but naming an approval that does not exist, or another call's digest.
    for value in (
        {"approval_id": "conv-nope/approval/call-1", "digest": "0" * 64},
        {"approval_id": approval_id, "digest": "0" * 64},
    ):
        forged = clicked(message, APPROVE_ACTION, "U0BOB")
        forged["actions"][0]["value"] = json.dumps(value)
        envelope = await socket.slack.push(forged)
        assert await socket.slack.ack_of(envelope) == {"envelope_id": envelope}
    told = await socket.slack.wait_for("chat.postEphemeral", user="U0BOB", count=2)
    assert sorted(t.args["text"] for t in told) == [
        "Your decision was not recorded: the decision is for a different call (digest mismatch)",
        "Your decision was not recorded: there is no approval 'conv-nope/approval/call-1'",
    ]
    await env.interactions.drain()
    assert await env.untouched(approval_id)

    envelope = await socket.slack.push(clicked(message, APPROVE_ACTION, "U0BOB"))
    assert await socket.slack.ack_of(envelope) == {"envelope_id": envelope}
    assert (await env.result(approval_id)).decision.outcome == "approved"
    assert socket.slack.connections == 1  # the same connection throughout


async def test_an_interaction_that_fails_is_still_acknowledged(env: SlackEnv) -> None:
    class Broken(SlackInteractions):
        async def handle(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
            raise RuntimeError("the org chart's database is down")

    client = await connect_socket_mode(
        Broken(env.desk, web_client(env.slack)), FakeSlack.APP_TOKEN, web_client(env.slack)
    )
    try:
        first = await env.slack.push({"type": "block_actions", "user": {"id": "U0BOB"}})
        second = await env.slack.push({"type": "block_actions", "user": {"id": "U0BOB"}})
        assert await env.slack.ack_of(first) == {"envelope_id": first}
        assert await env.slack.ack_of(second) == {"envelope_id": second}
    finally:
        await client.close()


async def test_a_bot_token_in_place_of_the_app_token_is_refused_before_connecting(
    env: SlackEnv,
) -> None:
    # slack-sdk alone would retry such a connection forever: the timeout makes a hang a failure.
    with pytest.raises(ConfigurationError, match=r"app-level token \(xapp-…"):
        async with asyncio.timeout(20):
            await connect_socket_mode(env.interactions, FakeSlack.TOKEN, web_client(env.slack))
    assert env.slack.of("apps.connections.open") == []
    assert env.slack.connections == 0


async def test_an_app_token_slack_refuses_fails_with_slacks_error(env: SlackEnv) -> None:
    with pytest.raises(ConfigurationError, match=r"apps\.connections\.open: invalid_auth"):
        async with asyncio.timeout(20):
            await connect_socket_mode(env.interactions, "xapp-1-revoked", web_client(env.slack))
    (refused,) = env.slack.of("apps.connections.open")
    assert refused.response == {"ok": False, "error": "invalid_auth"}
    assert env.slack.connections == 0


async def test_a_websocket_that_never_opens_fails_after_the_timeout(env: SlackEnv) -> None:
    env.slack.refuse_sockets = True
    with pytest.raises(ConfigurationError, match=r"Socket Mode WebSocket within 1 s"):
        async with asyncio.timeout(20):
            await connect_socket_mode(
                env.interactions, FakeSlack.APP_TOKEN, web_client(env.slack), timeout=1
            )
    assert len(env.slack.of("apps.connections.open")) == 1
    assert env.slack.connections == 0


# -- `agentflow approvals serve` with SLACK_APP_TOKEN, as an operator runs it -------------------

CLI = [sys.executable, "-m", "agentflow.cli", "approvals", "serve", "--port", "0"]
ROOT = Path(__file__).resolve().parents[2]


async def serve(
    env: SlackEnv, dev_server: DevServer, engine: Engine, app_token: str
) -> asyncio.subprocess.Process:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    environ.update(
        DATABASE_URL=str(engine.url),
        TEMPORAL_ADDRESS=dev_server.address,
        AGENTFLOW_TASK_QUEUE=env.queue,
        SLACK_BOT_TOKEN=FakeSlack.TOKEN,
        SLACK_APP_TOKEN=app_token,
        SLACK_API_URL=env.slack.base_url,
        COLUMNS="200",
    )
    return await asyncio.create_subprocess_exec(
        *CLI, cwd=ROOT, env=environ, stdout=PIPE, stderr=PIPE
    )


async def read_until(process: asyncio.subprocess.Process, marker: str) -> str:
    assert process.stderr is not None
    seen = ""
    async with asyncio.timeout(60):
        while line := (await process.stderr.readline()).decode():
            seen += line
            if marker in line:
                return seen
    raise AssertionError(f"serve ended before {marker!r}:\n{seen}")


async def test_serve_with_an_app_token_decides_clicks_over_socket_mode(
    env: SlackEnv, dev_server: DevServer, sqlite_engine: Engine
) -> None:
    approval_id, _ = await env.start_approval()
    message = await env.slack.wait_for(
        "chat.postMessage", lambda c: "blocks" in c.args and c.mentions(approval_id)
    )
    process = await serve(env, dev_server, sqlite_engine, FakeSlack.APP_TOKEN)
    try:
        await read_until(process, "Slack: Socket Mode")
        connection = await env.slack.socket()

        envelope = await env.slack.push(clicked(message[0], APPROVE_ACTION, "U0BOB"))
        assert await env.slack.ack_of(envelope) == {"envelope_id": envelope}
        result = await env.result(approval_id)
        assert (result.decision.outcome, result.decision.approver) == ("approved", "bob")

        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            _, stderr = await process.communicate()
        # Stopped by Ctrl-C (130 is uvicorn re-raising it), closing the connection cleanly.
        assert process.returncode in (0, 130)
        assert "Unclosed" not in stderr.decode() and "Traceback" not in stderr.decode()
        # Stopping serve closes the WebSocket (Slack would otherwise keep routing to it).
        async with asyncio.timeout(10):
            while not connection.closed:
                await asyncio.sleep(0.05)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_serve_with_a_bot_token_as_app_token_stops_with_one_clear_line(
    env: SlackEnv, dev_server: DevServer, sqlite_engine: Engine
) -> None:
    process = await serve(env, dev_server, sqlite_engine, "xoxb-not-an-app-token")
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "SLACK_APP_TOKEN must be an app-level token (xapp-" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert env.slack.connections == 0
