"""Approvals configured from the environment: clear errors, the right channel, the worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from agentflow import ApprovalRequest, ConfigurationError, call_digest
from agentflow.approvals import ApprovalDesk, LedgerChannel, OrgChart
from agentflow.approvals.settings import (
    ApprovalSettings,
    approval_channel,
    build_web_app,
    worker_approvals,
)
from agentflow.approvals.slack import SlackChannel, SlackInteractions
from agentflow.temporal import AgentClient, DevServer, LogChannel
from agentflow.temporal.contracts import ApprovalNotice
from agentflow.web import create_app
from examples.travel.worker import build_worker
from tests.approvals.fake_slack import FakeSlack
from tests.approvals.org import seed

pytestmark = pytest.mark.asyncio(loop_scope="session")

ARGS = {"offer_id": "LX318-2026-12-16-B"}
NOTICE = ApprovalNotice(
    kind="requested",
    workflow_id="conv-9/approval/call-9",
    conversation_id="conv-9",
    request=ApprovalRequest(
        tool="book_flight",
        tool_call_id="call-9",
        arguments=ARGS,
        digest=call_digest("book_flight", ARGS),
        requester="alice",
        approvers=("bob", "dana"),
    ),
    approvers=("bob",),
)


async def test_defaults_and_environment() -> None:
    assert ApprovalSettings.from_env({}) == ApprovalSettings()
    settings = ApprovalSettings.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-1", "AGENTFLOW_TASK_QUEUE": "q", "SLACK_SIGNING_SECRET": ""}
    )
    assert (settings.slack_enabled, settings.task_queue, settings.slack_signing_secret) == (
        True,
        "q",
        None,
    )


async def test_constructing_the_settings_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/agentflow")
    monkeypatch.setenv("AGENTFLOW_AUDITORS", "erin, frank")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")  # empty: unset
    monkeypatch.setenv("slack_app_token", "xapp-1")  # names are exact: not SLACK_APP_TOKEN
    settings = ApprovalSettings()
    assert (settings.database_url, settings.auditors) == (
        "postgresql://db/agentflow",
        ("erin", "frank"),
    )
    assert (settings.slack_bot_token, settings.slack_app_token) == (None, None)
    assert ApprovalSettings(task_queue="q", auditors=("dana",)).auditors == (
        "dana",
    )  # arguments win
    assert ApprovalSettings.from_env() == settings


async def test_from_env_reads_the_mapping_it_is_given_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-process")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "elsewhere.example:7233")
    settings = ApprovalSettings.from_env({"AGENTFLOW_PUBLIC_URL": "https://agents.example.com"})
    assert (settings.slack_bot_token, settings.temporal_address) == (None, "127.0.0.1:7233")
    assert settings.public_url == "https://agents.example.com"
    assert ApprovalSettings().slack_bot_token == "xoxb-from-the-process"  # the process's, again


async def test_temporal_variables_are_read_only_as_temporal_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The settings' own names are no way around temporalio's configuration.
    for name, value in {"temporal_address": "a.example:1", "temporal_tls": "{}"}.items():
        monkeypatch.setenv(name, value)
    assert ApprovalSettings().temporal_address == "127.0.0.1:7233"
    monkeypatch.setenv("TEMPORAL_TLS", "maybe")
    with pytest.raises(ConfigurationError, match="TEMPORAL_TLS must be true or false"):
        ApprovalSettings()


async def test_tokens_and_secrets_stay_out_of_the_repr() -> None:
    settings = ApprovalSettings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-secret",
            "SLACK_SIGNING_SECRET": "signing-secret",
            "SLACK_APP_TOKEN": "xapp-secret",
            "TEMPORAL_API_KEY": "api-secret",
        }
    )
    assert "secret" not in repr(settings)


async def test_without_slack_the_worker_records_and_logs(sqlite_engine: Engine) -> None:
    channel = approval_channel(ApprovalSettings(), sqlite_engine)
    assert isinstance(channel, LedgerChannel) and isinstance(channel.then, LogChannel)
    await channel.notify(NOTICE)
    record = channel.ledger.get(NOTICE.workflow_id)
    assert record is not None and (record.state, record.approvers) == ("pending", '["bob", "dana"]')


async def test_with_slack_the_worker_posts_once_per_notice(sqlite_engine: Engine) -> None:
    seed(OrgChart(sqlite_engine))
    fake = await FakeSlack().start()
    try:
        settings = ApprovalSettings(slack_bot_token=FakeSlack.TOKEN, slack_api_url=fake.base_url)
        channel = approval_channel(settings, sqlite_engine)
        assert isinstance(channel, LedgerChannel) and isinstance(channel.then, SlackChannel)
        await channel.notify(NOTICE)
        await channel.notify(NOTICE)  # Temporal retried the activity
        assert len(fake.of("chat.postMessage", channel="U0BOB")) == 1
    finally:
        await fake.stop()


async def test_slack_over_http_needs_the_signing_secret(
    dev_server: DevServer, sqlite_engine: Engine
) -> None:
    agents = AgentClient(await dev_server.client())
    desk = ApprovalDesk(agents, OrgChart(sqlite_engine))
    with pytest.raises(ConfigurationError, match="SLACK_SIGNING_SECRET"):
        build_web_app(ApprovalSettings(slack_bot_token="xoxb-1"), desk)
    settings = ApprovalSettings(slack_bot_token="xoxb-1", slack_signing_secret="s")
    routes = [getattr(r, "path", "") for r in build_web_app(settings, desk).routes]
    assert "/slack/interactions" in routes
    socket_mode = ApprovalSettings(slack_bot_token="xoxb-1", slack_app_token="xapp-1")
    assert "/slack/interactions" not in [
        getattr(r, "path", "") for r in build_web_app(socket_mode, desk).routes
    ]
    interactions = SlackInteractions(desk, settings.slack_client())
    with pytest.raises(ConfigurationError, match="SLACK_SIGNING_SECRET"):
        create_app(desk, slack=interactions)


async def test_the_travel_worker_is_wired_from_the_environment(
    dev_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'travel.db'}")
    settings = ApprovalSettings(
        temporal_address=dev_server.address, task_queue="travel-worker-test"
    )
    worker = await build_worker(settings)
    assert worker.task_queue == "travel-worker-test"
    org = OrgChart(create_engine(f"sqlite:///{tmp_path / 'travel.db'}"))
    assert org.approver_chain("alice", 1_000) == ("bob", "dana")


async def test_worker_approvals_carry_the_slack_channel_and_the_org_chart(
    sqlite_engine: Engine,
) -> None:
    settings = ApprovalSettings(slack_bot_token=FakeSlack.TOKEN, slack_api_url="http://x/")
    options = worker_approvals(settings, sqlite_engine)
    channel = options["channel"]
    assert isinstance(channel, LedgerChannel) and isinstance(channel.then, SlackChannel)
    assert options["org"].engine is sqlite_engine
    without = worker_approvals(ApprovalSettings(), sqlite_engine)["channel"]
    assert isinstance(without, LedgerChannel) and isinstance(without.then, LogChannel)
