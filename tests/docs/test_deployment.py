"""docs/deployment.md's worker script, run as an operator would: against a server, then stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from agentflow.audit import AuditStore
from agentflow.temporal import AgentClient, DevServer
from tests.docs.pages import write_page_files

ROOT = Path(__file__).resolve().parents[2]


async def start(env: dict[str, str], folder: Path) -> asyncio.subprocess.Process:
    """The page's deploy_worker.py, copied into `folder` and run from the checkout."""
    write_page_files("deployment.md", folder)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(folder / "deploy_worker.py"),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    prefixes = ("SLACK_", "OTEL_", "TEMPORAL_", "AGENTFLOW_TASK_QUEUE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.pop("ANTHROPIC_API_KEY", None)
    return env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'company.db'}"} | extra


async def test_the_worker_serves_conversations_records_them_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    async with DevServer(namespace="travel") as server:
        # Where Temporal is comes from a profile of the temporal CLI's config file, as in
        # production; the environment picks the profile.
        profiles = tmp_path / "temporal.toml"
        profiles.write_text(
            f'[profile.local]\naddress = "{server.address}"\nnamespace = "travel"\n'
        )
        env = environment(
            tmp_path,
            TEMPORAL_CONFIG_FILE=str(profiles),
            TEMPORAL_PROFILE="local",
            AGENTFLOW_TASK_QUEUE="deploy-docs",
        )
        worker = await start(env, tmp_path)
        assert worker.stdout is not None
        try:
            first = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
            assert first.decode().strip() == (
                f"worker on {server.address}, task queue deploy-docs"
            ), first
            agents = AgentClient(await server.client(), task_queue="deploy-docs")
            conversation = await agents.start_conversation("travel", user="alice")
            reply = await agents.send(
                conversation, "Find me a flight from ZRH to LHR on 2026-12-14", sender="alice"
            )
            assert reply.status == "completed" and "Options" in reply.output, reply.output
        finally:
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
    assert worker.returncode == 0, rest.decode()
    assert "worker stopped" in rest.decode()
    store = AuditStore(env["DATABASE_URL"])
    names = [stored.record.name for stored in store.conversation(conversation)]
    store.dispose()
    assert "execute_tool search_flights" in names, names


async def test_half_an_mtls_configuration_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_text("CERT")
    env = environment(tmp_path, TEMPORAL_TLS_CLIENT_CERT_PATH=str(tmp_path / "client.pem"))
    worker = await start(env, tmp_path)
    out, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
    assert worker.returncode == 1
    assert out.decode().startswith(
        "error: a TLS client certificate needs its private key: set both "
        "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"
    ), out.decode()


async def test_an_unreachable_cluster_is_one_clear_line(tmp_path: Path) -> None:
    env = environment(tmp_path, TEMPORAL_ADDRESS="127.0.0.1:9")
    worker = await start(env, tmp_path)
    out, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
    assert worker.returncode == 1
    assert out.decode().startswith("error: cannot reach Temporal at 127.0.0.1:9"), out.decode()
    assert "Traceback" not in out.decode()
