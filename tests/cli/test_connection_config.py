"""Reaching Temporal the standard way: the config file's profile < TEMPORAL_* < command options.

The precedence and what reaches ``Client.connect`` are checked on :class:`TemporalConfig` itself;
the commands are then run against a real dev server on a namespace of its own, and against a
dead address.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from temporalio.service import TLSConfig
from typer.testing import CliRunner, Result

from agentflow.approvals import OrgChart
from agentflow.approvals.settings import ApprovalSettings
from agentflow.audit import AuditStore
from agentflow.cli.main import app
from agentflow.exceptions import ConfigurationError
from agentflow.temporal import AgentClient, DevServer, connect
from agentflow.temporal.connection import TemporalConfig
from examples.travel.org import DEMO_ORG
from tests.processes import read_until, stop

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "agentflow.cli"]
DEAD = "127.0.0.1:9"  # the discard port: nothing listens there

PROFILES = """
[profile.default]
address = "file-default.example:7233"
namespace = "from-file"

[profile.prod]
address = "prod.example:7233"
namespace = "prod-ns"
api_key = "file-key"
"""


def foreign(name: str) -> bool:
    """A variable of the machine's Temporal configuration, which the tests must not see."""
    return name.startswith("TEMPORAL_") or name == "AGENTFLOW_TASK_QUEUE"


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without the machine's Temporal configuration."""
    return {k: v for k, v in os.environ.items() if not foreign(k)} | extra


# ------------------------------------------------------------------------------ precedence


def test_without_any_configuration_the_local_defaults_apply(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    config = TemporalConfig.load(environ={"TEMPORAL_CONFIG_FILE": str(empty)})
    assert (config.address, config.namespace) == ("127.0.0.1:7233", "default")
    assert config.connect_kwargs() == {"namespace": "default", "tls": False}


def test_profile_file_then_environment_then_arguments(tmp_path: Path) -> None:
    toml = tmp_path / "temporal.toml"
    toml.write_text(PROFILES)
    only_file = TemporalConfig.load(environ={"TEMPORAL_CONFIG_FILE": str(toml)})
    assert (only_file.address, only_file.namespace) == ("file-default.example:7233", "from-file")

    env = {"TEMPORAL_CONFIG_FILE": str(toml), "TEMPORAL_NAMESPACE": "from-env"}
    file_and_env = TemporalConfig.load(environ=env)
    assert (file_and_env.address, file_and_env.namespace) == (
        "file-default.example:7233",
        "from-env",
    )

    flags = TemporalConfig.load("flag.example:7000", "from-flag", environ=env)
    assert (flags.address, flags.namespace) == ("flag.example:7000", "from-flag")


def test_temporal_profile_selects_a_profile_and_its_api_key_turns_tls_on(tmp_path: Path) -> None:
    toml = tmp_path / "temporal.toml"
    toml.write_text(PROFILES)
    config = TemporalConfig.load(
        environ={"TEMPORAL_CONFIG_FILE": str(toml), "TEMPORAL_PROFILE": "prod"}
    )
    assert config.address == "prod.example:7233"
    assert config.connect_kwargs() == {"namespace": "prod-ns", "tls": True, "api_key": "file-key"}
    # The environment's key wins over the profile's; the key never shows in a repr.
    env_key = TemporalConfig.load(
        profile="prod",
        config_file=toml,
        environ={"TEMPORAL_API_KEY": "env-key"},
    )
    assert env_key.connect_kwargs()["api_key"] == "env-key"
    assert "env-key" not in repr(env_key) and "env-key" not in str(env_key)


def test_api_key_tls_files_and_metadata_reach_the_connect_arguments(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    (tmp_path / "ca.pem").write_bytes(b"CA")
    config = TemporalConfig.load(
        environ={
            "TEMPORAL_ADDRESS": "travel.a1b2c.tmprl.cloud:7233",
            "TEMPORAL_NAMESPACE": "travel.a1b2c",
            "TEMPORAL_API_KEY": "secret-key",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "client.pem"),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tmp_path / "client.key"),
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "ca.pem"),
            "TEMPORAL_TLS_SERVER_NAME": "sni.example",
            "TEMPORAL_GRPC_META_X_TEAM": "travel",
        }
    )
    kwargs = config.connect_kwargs()
    assert kwargs["api_key"] == "secret-key"
    assert kwargs["namespace"] == "travel.a1b2c"
    assert kwargs["rpc_metadata"] == {"x-team": "travel"}
    tls = kwargs["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert, tls.domain) == (
        b"CERT",
        b"KEY",
        b"CA",
        "sni.example",
    )
    assert b"KEY" not in repr(config).encode()


def test_approval_settings_read_the_same_configuration(tmp_path: Path) -> None:
    toml = tmp_path / "temporal.toml"
    toml.write_text(PROFILES)
    settings = ApprovalSettings.from_env(
        {"TEMPORAL_CONFIG_FILE": str(toml), "TEMPORAL_PROFILE": "prod", "TEMPORAL_TLS": "false"}
    )
    assert (settings.temporal_address, settings.temporal_namespace) == (
        "prod.example:7233",
        "prod-ns",
    )
    assert settings.temporal().connect_kwargs() == {
        "namespace": "prod-ns",
        "tls": False,  # TEMPORAL_TLS=false wins over the API key's implied TLS
        "api_key": "file-key",
    }
    flagged = settings.with_temporal("flag.example:1", None).temporal()
    assert (flagged.address, flagged.namespace) == ("flag.example:1", "prod-ns")
    # What agentflow read before keeps its meaning: empty variables count as unset.
    legacy = ApprovalSettings.from_env(
        {"TEMPORAL_ADDRESS": "t.internal:7233", "TEMPORAL_NAMESPACE": "prod", "TEMPORAL_TLS": ""}
    )
    assert legacy.temporal().connect_kwargs() == {"namespace": "prod", "tls": False}
    assert legacy.temporal().address == "t.internal:7233"


# ------------------------------------------------------------------------------ hostile input


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TEMPORAL_TLS": "maybe"}, "TEMPORAL_TLS must be true or false, not 'maybe'"),
        ({"TEMPORAL_CONFIG_FILE": "/no/such/temporal.toml"}, "TEMPORAL_CONFIG_FILE"),
        ({"TEMPORAL_PROFILE": "nope"}, "Profile 'nope' not found"),
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "/no/such/client.pem"}, "/no/such/client.pem"),
        ({"TEMPORAL_TLS_CLIENT_CERT_DATA": "CERT"}, "needs its private key"),
        ({"TEMPORAL_ADDRESS": "temporal.internal"}, "must be host:port"),
        ({"TEMPORAL_ADDRESS": "temporal.internal:99999"}, "must be host:port"),
        ({"TEMPORAL_NAMESPACE": "two words"}, "not a Temporal namespace name"),
    ],
)
def test_unusable_configuration_is_refused_by_name(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        TemporalConfig.load(environ={"TEMPORAL_CONFIG_FILE": str(empty)} | environ)


def test_a_malformed_config_file_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "temporal.toml"
    toml.write_text("address = [")
    with pytest.raises(ConfigurationError, match="Temporal client configuration"):
        TemporalConfig.load(config_file=toml, environ={})


AGENT = "tests.temporal.support:REPLAY_AGENT"
"""An agent reference that loads without side effects."""


def invoke(args: list[str], **env: str) -> Result:
    unset: dict[str, str | None] = {k: None for k in os.environ if foreign(k)}
    return CliRunner().invoke(app, args, env=unset | {"COLUMNS": "200"} | env)


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "--agent", "tests.temporal.support:cli_agent", "--temporal-address", DEAD],
        ["dev", "--agent", "tests.temporal.support:cli_agent", "--temporal-address", DEAD],
        ["chat", "--agent", AGENT, "--as", "alice", "--temporal-address", DEAD],
        ["approvals", "--temporal-address", DEAD, "list"],
    ],
    ids=["worker", "dev", "chat", "approvals"],
)
def test_a_dead_address_is_one_line_and_a_failing_exit(args: list[str], tmp_path: Path) -> None:
    result = invoke(args, DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot reach Temporal at {DEAD}: Connection refused")
    assert "Traceback" not in result.output


def test_the_flag_overrides_a_dead_environment_address(tmp_path: Path) -> None:
    # The environment points at nothing; a malformed flag is refused before any connection.
    result = invoke(
        ["approvals", "--temporal-address", "not-an-address", "list"], TEMPORAL_ADDRESS=DEAD
    )
    assert result.exit_code == 2
    assert "must be host:port, not 'not-an-address'" in result.stderr
    result = invoke(
        ["chat", "--agent", AGENT, "--as", "u", "--namespace", ""], TEMPORAL_ADDRESS=DEAD
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: not a Temporal namespace name: ''"
    result = invoke(["approvals", "list"], TEMPORAL_TLS="perhaps")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: TEMPORAL_TLS must be true or false, not 'perhaps'"


@pytest.mark.parametrize("name", ["X-User: bob", "", "X User"])
def test_a_bad_identity_header_name_is_refused(name: str) -> None:
    result = invoke(["approvals", "serve", "--identity-header", name])
    assert result.exit_code == 2
    assert "--identity-header must be an HTTP header name" in result.stderr


# ------------------------------------------------------------------------------ real server


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_worker_and_chat_on_a_namespace_of_their_own(tmp_path: Path) -> None:
    toml = tmp_path / "temporal.toml"
    async with DevServer(namespace="team-travel") as server:
        # The profile says where the server is; the environment picks namespace and queue.
        toml.write_text(f'[profile.default]\naddress = "{server.address}"\nnamespace = "default"\n')
        env = clean_env(
            TEMPORAL_CONFIG_FILE=str(toml),
            TEMPORAL_NAMESPACE="team-travel",
            AGENTFLOW_TASK_QUEUE="env-queue",
            AGENTFLOW_TEST_DB=str(tmp_path / "bookings.db"),
            DATABASE_URL=f"sqlite:///{tmp_path / 'audit.db'}",
            COLUMNS="200",
        )
        worker = start(["worker", "--agent", "tests.temporal.support:cli_agent"], env)
        try:
            banner = read_until(worker, "task queue")
            assert f"on {server.address}, namespace 'team-travel', task queue 'env-queue'" in (
                banner
            ), banner
            # chat: the environment says "default", the option says otherwise and wins.
            chat = await asyncio.create_subprocess_exec(
                *CLI,
                "chat",
                "--agent",
                "tests.temporal.support:cli_agent",
                "--as",
                "alice",
                "--namespace",
                "team-travel",
                cwd=ROOT,
                env=env | {"TEMPORAL_NAMESPACE": "default"},
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(chat.communicate(b"hello\n\n"), timeout=60)
            text = out.decode()
            assert chat.returncode == 0, text
            assert "You said: hello" in text
            conversation = re.search(r"conversation (conv-\w+)", text)
            assert conversation, text
            # It lives in team-travel (on env-queue), not in the default namespace.
            travel = AgentClient(
                await connect(server.address, "team-travel"), task_queue="env-queue"
            )
            transcript = await travel.transcript(conversation.group(1))
            assert any("hello" in str(m) for m in transcript.messages)
        finally:
            stop(worker)
        default = await connect(server.address)
        with pytest.raises(Exception, match="not found"):
            await default.get_workflow_handle(conversation.group(1)).describe()
    # chat and worker both record: the conversation is one trace, rooted where chat started it.
    store = AuditStore(env["DATABASE_URL"])
    try:
        records = [stored.record for stored in store.conversation(conversation.group(1))]
    finally:
        store.dispose()
    assert len({record.trace_id for record in records}) == 1
    names = [record.name for record in records]
    assert "invoke_agent cli-booker" in names and "chat" in " ".join(names), names


async def test_dev_creates_and_serves_the_namespace_it_is_given(tmp_path: Path) -> None:
    env = clean_env(
        AGENTFLOW_TEST_DB=str(tmp_path / "bookings.db"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'audit.db'}",
        COLUMNS="200",
    )
    process = start(
        [
            "dev",
            "--agent",
            "tests.temporal.support:cli_agent",
            "--data-dir",
            str(tmp_path / "af"),
            "--no-ui",
            "--namespace",
            "team-dev",
        ],
        env,
    )
    try:
        output = read_until(process, "Ctrl-C stops everything")
        match = re.search(r"Temporal: (\S+) \(namespace 'team-dev'\)", output)
        assert match, output
        agents = AgentClient(await connect(match.group(1), "team-dev"))
        conversation = await agents.start_conversation("cli-booker", user="alice")
        assert (
            await agents.send(conversation, "hello", sender="alice")
        ).output == "You said: hello"
    finally:
        stop(process)
    assert process.returncode == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_serve_takes_the_person_from_the_identity_header(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'org.db'}"
    OrgChart(ApprovalSettings(database_url=database).engine()).load(DEMO_ORG)
    port = free_port()
    async with DevServer() as server:
        env = clean_env(TEMPORAL_ADDRESS=server.address, DATABASE_URL=database, COLUMNS="200")
        process = start(
            ["approvals", "serve", "--port", str(port), "--identity-header", "X-Remote-User"],
            env,
        )
        try:
            read_until(process, "person from X-Remote-User")
            base = f"http://127.0.0.1:{port}/approvals"
            for _ in range(100):  # uvicorn binds a moment after the banner
                try:
                    status, page = await asyncio.to_thread(get, base, {"X-Remote-User": "bob"})
                    break
                except urllib.error.URLError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the inbox never answered")
            assert status == 200 and "Approvals for bob" in page, page
            # ?as= is no longer believed: without the header nobody is identified.
            status, page = await asyncio.to_thread(get, base + "?as=bob", {})
            assert "Approvals for bob" not in page and 'name="as"' in page, page
            # Anyone the proxy vouches for sees what requests name them to decide: here, nothing.
            status, page = await asyncio.to_thread(get, base, {"X-Remote-User": "mallory"})
            assert status == 200 and "Approvals for mallory" in page, page
            assert "Nothing waits" in page, page
        finally:
            stop(process)
