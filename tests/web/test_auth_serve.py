"""``agentflow approvals serve`` as an operator runs it: where it listens, whom it believes.

Refusals are checked on the command itself (a subprocess, nothing else started); serving is
checked against a Temporal dev server, with the web app's pages fetched over HTTP and, for
sign-in, the local OpenID Connect provider of ``tests/web/oidc_provider.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from agentflow.approvals import OrgChart
from agentflow.approvals.settings import ApprovalSettings
from agentflow.temporal import DevServer
from examples.travel.demo import serve
from examples.travel.org import DEMO_ORG
from tests.processes import read_until
from tests.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider
from tests.web.test_auth import REFUSAL
from tests.web.test_auth_oidc import sign_in

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "agentflow.cli", "approvals", "serve"]


def environment(**extra: str) -> dict[str, str]:
    """The test process's environment without the machine's Temporal, Slack or web settings."""
    prefixes = ("TEMPORAL_", "AGENTFLOW_", "SLACK_", "OTEL_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)} | extra


def refusal(args: list[str], **env: str) -> str:
    done = subprocess.run(
        [*CLI, *args], cwd=ROOT, env=environment(**env), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done
    assert done.stdout == "" and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_serving_beyond_loopback_with_the_development_identity_is_refused() -> None:
    """The finding: docs/slack.md's own command served ``?as=`` to the network."""
    assert refusal(["--host", "0.0.0.0", "--port", "8080"]) == f"error: {REFUSAL}"
    # A public URL is no authenticator.
    public = {"AGENTFLOW_PUBLIC_URL": "https://approvals.example.com"}
    assert refusal(["--host", "192.168.1.5"], **public).startswith(
        "error: refusing to serve on 192.168.1.5 with the development identity (?as=)"
    )
    assert refusal(["--host", "::"], **public).startswith("error: refusing to serve on ::")


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (
            ["--identity-header", "X-Forwarded-User"],
            {"AGENTFLOW_PUBLIC_URL": "https://approvals.example.com"},
            "with --identity-header alone: name the proxy with --trusted-proxy",
        ),
        (
            ["--identity-header", "X-Forwarded-User", "--trusted-proxy", "10.0.0.0/8"],
            {},
            "without a public host name for the Host check",
        ),
        (
            ["--identity-header", "X-Forwarded-User", "--trusted-proxy", "proxy.internal"],
            {},
            "a trusted proxy must be an IP address or a CIDR block, not 'proxy.internal'",
        ),
        (
            ["--oidc-issuer", "https://idp.example", "--oidc-client-id", "c"],
            {"AGENTFLOW_PUBLIC_URL": "http://approvals.example.com"},
            "over plain HTTP: AGENTFLOW_PUBLIC_URL must be an https:// URL",
        ),
        (
            ["--oidc-issuer", "https://idp.example"],
            {"AGENTFLOW_PUBLIC_URL": "https://approvals.example.com"},
            "AGENTFLOW_OIDC_ISSUER is set but AGENTFLOW_OIDC_CLIENT_ID is not",
        ),
        (
            ["--oidc-issuer", "https://idp.example", "--identity-header", "X-User"],
            {"AGENTFLOW_OIDC_CLIENT_ID": "c"},
            "choose one way of identifying people",
        ),
    ],
    ids=["header-alone", "no-public-host", "proxy-by-name", "oidc-over-http", "no-client", "both"],
)
def test_an_authenticator_configured_in_part_is_refused(
    args: list[str], env: dict[str, str], says: str
) -> None:
    assert says in refusal(["--host", "0.0.0.0", *args], **env)


# -- serving --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def started(args: list[str], env: dict[str, str], marker: str) -> Iterator[tuple[str, str]]:
    """``serve`` on a free port: what it said on stderr up to ``marker``, and its URL."""
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield read_until(process, marker), f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def answered(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(100):  # uvicorn binds a moment after the banner
            try:
                await client.get(f"{url}/healthz")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError("the app never answered")


@pytest.mark.asyncio
async def test_serve_on_loopback_says_so_and_answers_only_loopback_names(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'org.db'}"
    OrgChart(ApprovalSettings(database_url=database).engine()).load(DEMO_ORG)
    async with DevServer() as server:
        env = environment(TEMPORAL_ADDRESS=server.address, DATABASE_URL=database)
        with started([], env, "answering Host") as (banner, url):
            assert "development identity: anyone on this machine can be anyone" in banner
            assert "answering Host: localhost, 127.0.0.1, [::1]" in banner
            await answered(url)
            await _loopback_pages(url)


async def _loopback_pages(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as browser:
        page = await browser.get("/approvals?as=bob")
        assert page.status_code == 200 and "Approvals for bob" in page.text
        assert "development identity: anyone on this machine can be anyone" in page.text
        # DNS rebinding: evil.example resolved to 127.0.0.1 in the victim's browser.
        rebound = await browser.get("/approvals?as=bob", headers={"Host": "evil.example"})
        assert rebound.status_code == 400 and "bob" not in rebound.text
        # A proxy in front of a loopback server makes nobody anybody.
        proxied = await browser.get("/approvals?as=bob", headers={"X-Forwarded-For": "1.2.3.4"})
        assert "Approvals for bob" not in proxied.text


@pytest.mark.asyncio
async def test_serve_signs_people_in_with_openid_connect(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'org.db'}"
    OrgChart(ApprovalSettings(database_url=database).engine()).load(DEMO_ORG)
    provider = Provider()
    async with DevServer() as server, serve(provider.app(), 0) as issuer:
        provider.issuer = issuer
        env = environment(
            TEMPORAL_ADDRESS=server.address,
            DATABASE_URL=database,
            AGENTFLOW_OIDC_CLIENT_SECRET=CLIENT_SECRET,
            AGENTFLOW_SESSION_SECRET="serve-test-session",
        )
        args = ["--oidc-issuer", issuer, "--oidc-client-id", CLIENT_ID]
        with started(args, env, "answering Host") as (banner, url):
            assert f"person from OpenID Connect ({issuer}, claim sub)" in banner
            assert "development identity" not in banner
            await answered(url)
            async with httpx.AsyncClient(base_url=url, timeout=30) as browser:
                assert "Approvals for bob" not in (await browser.get("/approvals?as=bob")).text
                landed = await sign_in(browser)
                assert landed.status_code == 200 and "Approvals for bob" in landed.text
                assert "development identity" not in landed.text
