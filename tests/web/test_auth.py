"""Who is asking: the development identity, the trusted proxy, the Host check, the bind rule.

The finding these pin: ``agentflow approvals serve --host 0.0.0.0`` believed ``?as=bob`` from
anyone, so an anonymous request approved a booking; nothing checked the Host header, so a page
on another site could reach a server on a laptop by DNS rebinding. Requests come through
httpx's ASGI transport, from the client address each test chooses.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from agentflow.audit.store import AuditStore
from agentflow.exceptions import ConfigurationError
from agentflow.web import Chat, TrustedProxy, create_app, dev_identity, header_identity
from agentflow.web.csrf import FormTokens
from agentflow.web.hosts import allowed_hosts, exposure_problem, is_loopback, public_host
from agentflow.web.identity import DEVELOPMENT_NOTICE, DevIdentity, as_authenticator, networks
from examples.travel.demo import TRAVEL_CARDS
from tests.web.conftest import SECRET, Stack
from tests.web.support import start_conversation
from tests.web.test_chat import waiting_for_approval

SESSION = pytest.mark.asyncio(loop_scope="session")

LAPTOP = ("127.0.0.1", 50123)
REMOTE = ("198.51.100.7", 50123)
REFUSAL = (
    "refusing to serve on 0.0.0.0 with the development identity (?as=): configure "
    "--oidc-issuer (OpenID Connect sign-in) or --identity-header with --trusted-proxy "
    "(an authenticating proxy)"
)


def request(
    client: tuple[str, int] | None = LAPTOP,
    headers: list[tuple[str, str]] | None = None,
    query: str = "",
) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/approvals",
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers or []],
            "client": client,
        }
    )


def client_for(
    app: Starlette, peer: tuple[str, int], host: str = "127.0.0.1:8080"
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=peer)
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")


# -- the development identity ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "headers", "who"),
    [
        (LAPTOP, [], "bob"),
        (("::1", 1), [], "bob"),
        (("::ffff:127.0.0.1", 1), [], "bob"),
        (REMOTE, [], None),
        (("10.0.0.8", 1), [], None),
        (("::ffff:198.51.100.7", 1), [], None),
        (None, [], None),
        (("testclient", 1), [], None),
        # A proxy on this machine would make the world's requests come from loopback.
        (LAPTOP, [("X-Forwarded-For", "198.51.100.7")], None),
        (LAPTOP, [("Forwarded", "for=198.51.100.7")], None),
        (LAPTOP, [("X-Real-IP", "198.51.100.7")], None),
    ],
)
def test_the_development_identity_believes_as_only_from_this_machine(
    peer: tuple[str, int] | None, headers: list[tuple[str, str]], who: str | None
) -> None:
    assert dev_identity(request(peer, headers, "as=bob")) == who
    assert DevIdentity().identify(request(peer, headers, "as=bob")) == who
    assert dev_identity(request(peer, headers)) is None


@SESSION
async def test_an_anonymous_as_bob_from_the_network_decides_nothing(stack: Stack) -> None:
    """The finding: a request from elsewhere with ?as=bob approved alice's booking."""
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as laptop:
        page = await start_conversation(laptop, "alice")
        await waiting_for_approval(laptop, page, "alice")
    (pending,) = [
        p
        for p in await stack.desk.pending("bob")
        if p.approval_id.startswith(page.conversation_id + "/")
    ]
    digest = pending.status.request.digest
    app = create_app(stack.desk, secret=SECRET)
    # Even with a valid form token (which such a client can no longer see), nothing is decided.
    token = FormTokens(SECRET).issue("approval", "bob", pending.approval_id, digest)
    form = {"approval_id": pending.approval_id, "digest": digest, "token": token}
    async with client_for(app, REMOTE) as anyone:
        shown = await anyone.get("/approvals", params={"as": "bob"})
        assert "Approvals for bob" not in shown.text and pending.approval_id not in shown.text
        posted = await anyone.post("/approvals/decide?as=bob", data=form | {"decision": "approve"})
        assert posted.status_code == 401
    assert (await stack.desk.status(pending.approval_id)).state == "pending"
    # From this machine the same post is bob's decision: the identity was all that stood between.
    async with client_for(app, LAPTOP) as bob:
        denied = form | {"decision": "deny", "reason": "tidying up after the test"}
        assert (await bob.post("/approvals/decide?as=bob", data=denied)).status_code == 303
    assert (await stack.desk.status(pending.approval_id)).state != "pending"


@SESSION
async def test_every_page_says_the_development_identity(stack: Stack, tmp_path: Path) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    chat = Chat(stack.agents, stack.agent, cards=TRAVEL_CARDS, secret=SECRET)
    app = create_app(stack.desk, audit=store, chat=chat, secret=SECRET)
    notice = f'<p class="identity-notice" role="note">{html.escape(DEVELOPMENT_NOTICE)}</p>'
    async with client_for(app, LAPTOP) as laptop:
        for path in ["/approvals", "/approvals?as=bob", "/chat", "/chat?as=bob"]:
            page = await laptop.get(path)
            assert page.status_code == 200 and notice in page.text, path
        refused = await laptop.get("/conversations/conv-x/timeline?as=bob")
        assert refused.status_code == 403 and notice in refused.text
        started = await start_conversation(laptop, "alice")
        assert notice in started.html
    store.dispose()


# -- a proxy that authenticates people --------------------------------------------------------

PROXY = ("10.1.2.3", 443)


def test_the_identity_header_is_believed_only_from_the_proxy() -> None:
    proxy = TrustedProxy("X-Forwarded-User", networks(["10.1.0.0/16", "192.0.2.10"]))
    assert proxy.identify(request(PROXY, [("X-Forwarded-User", "bob")])) == "bob"
    assert proxy.identify(request(("192.0.2.10", 1), [("X-Forwarded-User", "bob")])) == "bob"
    assert proxy.identify(request(("::ffff:10.1.9.9", 1), [("X-Forwarded-User", "bob")])) == "bob"
    # Not the proxy: the header is anybody's word.
    for peer in [REMOTE, LAPTOP, ("192.0.2.11", 1), None]:
        assert proxy.identify(request(peer, [("X-Forwarded-User", "bob")])) is None, peer
    # A forwarded address is not where the request came from.
    forged = [("X-Forwarded-User", "bob"), ("X-Forwarded-For", "10.1.2.3")]
    assert proxy.identify(request(REMOTE, forged)) is None
    # A client's own copy next to the proxy's: which one is the proxy's cannot be told.
    twice = [("X-Forwarded-User", "mallory"), ("X-Forwarded-User", "bob")]
    assert proxy.identify(request(PROXY, twice)) is None
    assert proxy.identify(request(PROXY, [("X-Forwarded-User", "")])) is None
    assert proxy.identify(request(PROXY, query="as=bob")) is None


def test_a_proxy_may_prove_itself_with_the_shared_secret() -> None:
    proxy = header_identity("X-Forwarded-User", secret="s3cret-shared")
    assert proxy.proxies == ()
    with_secret = [("X-Forwarded-User", "bob"), ("X-Agentflow-Proxy-Secret", "s3cret-shared")]
    assert proxy.identify(request(REMOTE, with_secret)) == "bob"
    for wrong in ["", "s3cret", "s3cret-shared ", "S3CRET-SHARED", "é"]:
        headers = [("X-Forwarded-User", "bob"), ("X-Agentflow-Proxy-Secret", wrong)]
        assert proxy.identify(request(REMOTE, headers)) is None, wrong
    assert proxy.identify(request(LAPTOP, [("X-Forwarded-User", "bob")])) is None
    assert "s3cret" not in repr(proxy)


def test_a_proxy_nobody_named_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="believed from anyone"):
        TrustedProxy("X-Forwarded-User")
    with pytest.raises(ConfigurationError, match=re.escape("not 'proxy.internal'")):
        header_identity("X-Forwarded-User", proxies=["proxy.internal"])
    # Told of neither, header_identity trusts a proxy on this machine only.
    local = header_identity("X-Forwarded-User")
    assert local.identify(request(LAPTOP, [("X-Forwarded-User", "bob")])) == "bob"
    assert local.identify(request(REMOTE, [("X-Forwarded-User", "bob")])) is None
    assert not local.development and as_authenticator(local) is local


@SESSION
async def test_with_a_proxy_as_is_nobody_and_no_page_warns(stack: Stack) -> None:
    proxy = header_identity("X-Remote-User", proxies=["10.1.0.0/16"])
    chat = Chat(stack.agents, stack.agent, cards=TRAVEL_CARDS, secret=SECRET)
    app = create_app(stack.desk, identify=proxy, chat=chat)
    assert chat.identify == proxy.identify  # the chat asks the app's authenticator
    async with client_for(app, PROXY) as via_proxy, client_for(app, REMOTE) as direct:
        page = await via_proxy.get("/approvals", headers={"X-Remote-User": "bob"})
        assert "Approvals for bob" in page.text and 'class="identity-notice"' not in page.text
        home = await via_proxy.get("/chat", headers={"X-Remote-User": "bob"})
        assert "Signed in as <strong>bob</strong>" in home.text
        for client in (via_proxy, direct):
            assert "Approvals for bob" not in (await client.get("/approvals?as=bob")).text
            assert "Signed in as" not in (await client.get("/chat?as=bob")).text
        sneaked = await direct.get("/chat", headers={"X-Remote-User": "bob"})
        assert "Signed in as" not in sneaked.text


@SESSION
async def test_a_chat_with_another_rule_is_refused(stack: Stack) -> None:
    chat = Chat(stack.agents, stack.agent, identify=lambda request: "bob")
    with pytest.raises(ConfigurationError, match="identifies people otherwise"):
        create_app(stack.desk, identify=header_identity("X-Remote-User"), chat=chat)


# -- the Host header ------------------------------------------------------------------------


@SESSION
@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8080", 200),
        ("localhost:8080", 200),
        ("LOCALHOST", 200),
        ("[::1]:8080", 200),
        ("evil.example:8080", 400),  # DNS rebinding: another site's name for this machine
        ("127.0.0.1.evil.example", 400),
        ("approvals.example.com", 400),
    ],
)
async def test_on_loopback_only_loopback_names_are_answered(
    stack: Stack, host: str, status: int
) -> None:
    app = create_app(stack.desk, allowed_hosts=allowed_hosts("127.0.0.1"))
    async with client_for(app, LAPTOP) as laptop:
        page = await laptop.get("/approvals?as=bob", headers={"Host": host})
        assert page.status_code == status, page.text
        if status == 400:
            assert "bob" not in page.text
        # Probes answer under any name, and say nothing else.
        probe = await laptop.get("/healthz", headers={"Host": host})
        assert (probe.status_code, probe.text) == (200, "ok")


@SESSION
async def test_beyond_loopback_only_the_public_name_is_answered(stack: Stack) -> None:
    hosts = allowed_hosts("0.0.0.0", [public_host("https://approvals.example.com/base")])
    assert hosts == ("approvals.example.com",)
    app = create_app(stack.desk, identify=header_identity("X-Remote-User"), allowed_hosts=hosts)
    async with client_for(app, LAPTOP, host="approvals.example.com") as client:
        assert (await client.get("/approvals")).status_code == 200
        for host in ["localhost", "127.0.0.1:8080", "evil.example", "www.approvals.example.com"]:
            refused = await client.get("/approvals", headers={"Host": host})
            assert refused.status_code == 400, host
        assert (await client.get("/approvals", headers={"Host": "bad host"})).status_code == 400


def test_names_and_binds() -> None:
    for bind in ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"]:
        assert is_loopback(bind), bind
    for bind in ["0.0.0.0", "::", "", "192.168.1.5", "laptop.local", "example.com"]:
        assert not is_loopback(bind), bind
    assert allowed_hosts("::1") == ("localhost", "127.0.0.1", "[::1]")
    assert allowed_hosts("127.0.0.1", ["approvals.example.com", "localhost"]) == (
        "localhost",
        "127.0.0.1",
        "[::1]",
        "approvals.example.com",
    )
    assert public_host("https://[2001:db8::1]:8443/") == "[2001:db8::1]"
    assert public_host(None) is None and public_host("not a url") is None


# -- where the app may listen ---------------------------------------------------------------


def test_the_development_identity_stays_on_loopback() -> None:
    public = ("approvals.example.com",)
    for bind in ["127.0.0.1", "localhost", "::1"]:
        assert exposure_problem(bind, development=True, hosts=()) is None
    assert exposure_problem("0.0.0.0", development=True, hosts=public) == REFUSAL
    assert "on 192.168.1.5 with the development identity" in str(
        exposure_problem("192.168.1.5", development=True, hosts=public)
    )
    proxy = exposure_problem("0.0.0.0", development=False, hosts=public, proxy_unrestricted=True)
    assert proxy is not None and "--trusted-proxy" in proxy
    nameless = exposure_problem("0.0.0.0", development=False, hosts=())
    assert nameless is not None and "AGENTFLOW_PUBLIC_URL or --allowed-host" in nameless
    clear = exposure_problem("0.0.0.0", development=False, hosts=public, cookie_in_clear=True)
    assert clear is not None and "https://" in clear
    assert exposure_problem("0.0.0.0", development=False, hosts=public) is None
    for problem in [REFUSAL, proxy, nameless, clear]:
        assert "\n" not in problem and re.match(r"refusing to serve", problem)


@SESSION
async def test_the_app_refuses_a_non_loopback_peer_even_if_someone_binds_it_wide(
    stack: Stack,
) -> None:
    # create_app used directly with the development identity, behind uvicorn on 0.0.0.0.
    app = create_app(stack.desk)
    async with client_for(app, REMOTE) as anyone:
        assert "Approvals for bob" not in (await anyone.get("/approvals?as=bob")).text
