"""What TemporalConfig loads reaches the real connection; an unreachable server is one line.

The dev server speaks plain gRPC, so a configuration that turns TLS on must fail against it
(the handshake meets a plaintext answer) and the same one with ``TEMPORAL_TLS=false`` must
work: that shows TLS, not just a keyword argument, reaches the transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agentflow.approvals.settings import ApprovalSettings, build_desk
from agentflow.exceptions import ConfigurationError, TemporalUnavailable
from agentflow.temporal import AgentClient, DevServer, connect
from agentflow.temporal.connection import TemporalConfig
from agentflow.temporal.contracts import ApprovalVote
from agentflow.temporal.converter import data_converter

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_an_api_key_turns_tls_on_for_the_real_connection(dev_server: DevServer) -> None:
    env = {"TEMPORAL_ADDRESS": dev_server.address, "TEMPORAL_API_KEY": "secret-key"}
    with pytest.raises(ConfigurationError, match=f"cannot reach Temporal at {dev_server.address}"):
        await TemporalConfig.load(environ=env).connect()

    plain = TemporalConfig.load(
        environ=env | {"TEMPORAL_TLS": "false", "TEMPORAL_GRPC_META_X_TEAM": "t"}
    )
    client = await plain.connect()
    assert client.service_client.config.api_key == "secret-key"
    assert client.service_client.config.tls is False
    assert dict(client.service_client.config.rpc_metadata) == {"x-team": "t"}
    assert client.data_converter is data_converter  # agentflow's converter, as connect sets it
    assert client.namespace == "default"
    assert (await client.count_workflows()).count >= 0  # the connection really works


async def test_approval_settings_connect_with_what_the_environment_says(
    dev_server: DevServer, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'org.db'}"
    secured = ApprovalSettings.from_env(
        {
            "DATABASE_URL": database,
            "TEMPORAL_ADDRESS": dev_server.address,
            "TEMPORAL_API_KEY": "secret-key",
        }
    )
    with pytest.raises(ConfigurationError, match="cannot reach Temporal"):
        await build_desk(secured)
    desk = await build_desk(secured.model_copy(update={"temporal_tls": False}))
    assert desk.agents.client.service_client.config.api_key == "secret-key"


def calls(agents: AgentClient) -> list[Callable[[], Awaitable[Any]]]:
    vote = ApprovalVote(approver="bob", approve=True, digest="0" * 64)

    async def stream() -> None:
        async for _ in agents.stream("conv-x", "hello"):
            pass

    return [
        lambda: agents.start_conversation("travel", user="alice"),
        lambda: agents.send("conv-x", "hello", sender="alice"),
        stream,
        lambda: agents.wait_for_turn("conv-x", 1),
        lambda: agents.transcript("conv-x"),
        lambda: agents.steps("conv-x"),
        lambda: agents.pending_approvals(),
        lambda: agents.approval_status("approval-x"),
        lambda: agents.decide("approval-x", vote),
    ]


async def test_a_lazy_client_on_a_dead_address_fails_as_temporal_unavailable() -> None:
    agents = AgentClient(await connect("127.0.0.1:9", lazy=True))
    for call in calls(agents):
        with pytest.raises(TemporalUnavailable) as caught:
            await call()
        assert str(caught.value) == "cannot reach Temporal: Connection refused"
        assert caught.value.__cause__ is None  # no transport dump chained to the one line
