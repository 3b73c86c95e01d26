"""Sign-in with OpenID Connect, against a local provider, over real HTTP on both sides.

The provider (``tests/web/oidc_provider.py``) and the web app each run under uvicorn on a free
port of this machine; a browser is an httpx client with its own cookie jar. Every way a sign-in
can be forged or replayed must leave the browser signed out, with nothing remembered.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from agentflow.approvals.settings import ApprovalSettings, web_authenticator
from agentflow.web import create_app
from agentflow.web.hosts import allowed_hosts
from agentflow.web.oidc import OIDCSignIn, local_path
from examples.travel.demo import serve
from tests.web.conftest import Stack
from tests.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, new_key

pytestmark = pytest.mark.asyncio(loop_scope="session")

SESSION_SECRET = "oidc-tests-session-secret"


@dataclass
class Site:
    url: str
    provider: Provider
    signin: OIDCSignIn

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def provider() -> AsyncIterator[Provider]:
    idp = Provider()
    async with serve(idp.app(), 0) as url:
        idp.issuer = url
        yield idp


async def site_for(stack: Stack, provider: Provider, **options: object) -> AsyncIterator[Site]:
    signin = OIDCSignIn(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        session_secret=SESSION_SECRET,
        secure_cookie=False,  # plain HTTP on loopback, as in development
        **options,  # type: ignore[arg-type]
    )
    app = create_app(stack.desk, identify=signin, allowed_hosts=allowed_hosts("127.0.0.1"))
    async with serve(app, 0) as url:
        yield Site(url, provider, signin)


@pytest_asyncio.fixture(loop_scope="session")
async def site(stack: Stack, provider: Provider) -> AsyncIterator[Site]:
    provider.user = {"sub": "bob"}
    provider.tamper = {}
    provider.signing_key = None
    async for built in site_for(stack, provider):
        yield built


async def sign_in(browser: httpx.AsyncClient, start: str = "/approvals") -> httpx.Response:
    """Follows the page's sign-in link through the provider and back, as a browser does."""
    page = await browser.get(start)
    match = re.search(r'<a class="sign-in" href="([^"]+)"', page.text)
    assert match is not None, page.text
    return await browser.get(match.group(1).replace("&amp;", "&"), follow_redirects=True)


async def to_callback(browser: httpx.AsyncClient, start: str = "/approvals") -> str:
    """Starts a sign-in and stops at the provider's redirect back: the callback URL."""
    login = await browser.get(f"/auth/login?next={start}")
    assert login.status_code == 302, login.text
    authorize = await browser.get(login.headers["location"])
    assert authorize.status_code == 302, authorize.text
    return authorize.headers["location"]


async def signed_out(browser: httpx.AsyncClient) -> bool:
    page = await browser.get("/approvals")
    return "Approvals for" not in page.text and 'class="sign-in"' in page.text


# -- the flow -------------------------------------------------------------------------------


async def test_bob_signs_in_with_the_code_flow_and_pkce(site: Site) -> None:
    async with site.browser() as browser:
        page = await browser.get("/approvals")
        assert page.status_code == 200 and 'class="sign-in"' in page.text
        assert 'name="as"' not in page.text and 'class="identity-notice"' not in page.text
        assert "Approvals for bob" not in (await browser.get("/approvals?as=bob")).text
        landed = await sign_in(browser)
        assert landed.status_code == 200 and "Approvals for bob" in landed.text
        assert str(landed.url) == f"{site.url}/approvals"
        # The session cookie is what keeps bob signed in; ?as= names nobody else.
        assert "Approvals for bob" in (await browser.get("/approvals?as=alice")).text
    asked = site.provider.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
    assert asked["nonce"] and asked["state"] and "openid" in asked["scope"].split()
    assert asked["redirect_uri"] == f"{site.url}/auth/callback"
    exchanged = site.provider.token_requests[-1]
    assert exchanged["grant_type"] == "authorization_code" and exchanged["code_verifier"]


async def test_the_session_cookie_is_signed_httponly_and_lax(site: Site) -> None:
    async with site.browser() as browser:
        login = await browser.get("/auth/login?next=/approvals")
        cookie = login.headers["set-cookie"]
        assert cookie.startswith("agentflow-session=")
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "Max-Age=28800" in cookie and "secure" not in cookie.lower()  # plain HTTP here
    secure = OIDCSignIn(
        issuer=site.provider.issuer,
        client_id=CLIENT_ID,
        session_secret=SESSION_SECRET,
    )
    (middleware,) = secure.middleware()
    assert middleware.kwargs["https_only"] is True
    assert middleware.kwargs["session_cookie"] == "__Host-agentflow-session"


async def test_a_forged_session_cookie_names_nobody(site: Site) -> None:
    async with site.browser() as browser:
        await sign_in(browser)
        value = browser.cookies["agentflow-session"]
        payload, rest = value.split(".", 1)
        data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
        assert data["agentflow.employee"] == "bob"
        data["agentflow.employee"] = "dana"
        forged = base64.b64encode(json.dumps(data).encode()).decode()
        browser.cookies.clear()
        browser.cookies.set("agentflow-session", f"{forged}.{rest}")
        page = await browser.get("/approvals")
        assert "Approvals for dana" not in page.text and "Approvals for bob" not in page.text


async def test_signing_out_forgets_the_person(site: Site) -> None:
    async with site.browser() as browser:
        await sign_in(browser)
        assert (await browser.post("/auth/logout")).status_code == 303
        assert await signed_out(browser)


async def test_the_claim_that_names_the_employee_is_configurable(
    stack: Stack, provider: Provider
) -> None:
    provider.user = {"sub": "00u1a2b3", "preferred_username": "bob", "email": "bob"}
    provider.tamper = {}
    provider.signing_key = None
    async for site in site_for(stack, provider, claim="preferred_username"):
        async with site.browser() as browser:
            assert "Approvals for bob" in (await sign_in(browser)).text
    async for site in site_for(stack, provider):  # sub: a person no request names
        async with site.browser() as browser:
            nobody = await sign_in(browser)
            assert nobody.status_code == 200 and "Approvals for 00u1a2b3" in nobody.text
            assert "Nothing waits" in nobody.text
    provider.user = {"sub": "00u1a2b3", "email": "bob", "email_verified": False}
    async for site in site_for(stack, provider, claim="email"):
        async with site.browser() as browser:
            unverified = await sign_in(browser)
            assert unverified.status_code == 403 and "did not name you" in unverified.text
            assert await signed_out(browser)
    provider.user = {"sub": "bob"}


# -- what must not sign anyone in -----------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        {"aud": "another-client"},
        {"aud": ["another-client"], "azp": CLIENT_ID},
        {"iss": "https://evil.example"},
        {"nonce": "a-nonce-from-another-sign-in"},
        {"nonce": None},
        {"exp": 1_000_000_000, "iat": 999_999_000},
        {"sub": None},
    ],
    ids=["audience", "audience-with-azp", "issuer", "nonce", "no-nonce", "expired", "no-sub"],
)
async def test_an_id_token_that_is_not_for_this_sign_in_is_refused(
    site: Site, tamper: dict[str, object]
) -> None:
    site.provider.tamper = tamper
    async with site.browser() as browser:
        refused = await sign_in(browser)
        assert refused.status_code == 401 and "Sign-in failed" in refused.text, refused.text
        assert await signed_out(browser)


async def test_an_id_token_signed_with_another_key_is_refused(site: Site) -> None:
    site.provider.signing_key = new_key("test-key")  # same key id, not the published key
    async with site.browser() as browser:
        assert (await sign_in(browser)).status_code == 401
        assert await signed_out(browser)


async def test_a_callback_from_another_browsers_sign_in_is_refused(site: Site) -> None:
    """Login CSRF: mallory's code and state, opened in bob's browser, sign nobody in."""
    site.provider.user = {"sub": "mallory"}
    async with site.browser() as mallory:
        callback = await to_callback(mallory)
    site.provider.user = {"sub": "bob"}
    async with site.browser() as bob:
        await bob.get("/auth/login?next=/approvals")  # bob's own sign-in, left half-way
        refused = await bob.get(callback)
        assert refused.status_code == 401
        assert await signed_out(bob)


async def test_a_code_is_good_once(site: Site) -> None:
    async with site.browser() as browser:
        callback = await to_callback(browser)
        state = parse_qs(urlsplit(callback).query)["state"][0]
        assert (await browser.get(callback)).status_code == 303
        await browser.post("/auth/logout")
        # The same callback again: the state is spent, and the provider would refuse the code.
        await browser.get("/auth/login?next=/approvals")
        assert (await browser.get(callback)).status_code == 401
        assert await signed_out(browser)
        assert state


async def test_an_intercepted_code_alone_buys_no_token(site: Site) -> None:
    """PKCE: whoever catches the redirect back (the code) lacks the browser's verifier."""
    async with site.browser() as browser:
        callback = await to_callback(browser)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    async with httpx.AsyncClient(timeout=30) as thief:
        answer = await thief.post(
            f"{site.provider.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"{site.url}/auth/callback",
                "code_verifier": "a-guess-that-is-long-enough-to-look-like-a-verifier",
            },
            auth=(CLIENT_ID, CLIENT_SECRET),  # even with the client's own secret
        )
    assert answer.status_code == 400 and answer.json()["why"] == "PKCE"


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/approvals?message=hi", "/approvals?message=hi"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("approvals", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
async def test_sign_in_returns_only_to_this_site(target: str | None, kept: str) -> None:
    assert local_path(target) == kept


async def test_after_sign_in_an_open_redirect_goes_home(site: Site) -> None:
    async with site.browser() as browser:
        callback = await to_callback(browser, start="https://evil.example/")
        back = await browser.get(callback)
        assert back.status_code == 303 and back.headers["location"] == "/"


async def test_an_unreachable_provider_is_a_clear_page(stack: Stack) -> None:
    signin = OIDCSignIn(
        issuer="http://127.0.0.1:9",
        client_id=CLIENT_ID,
        session_secret=SESSION_SECRET,
        secure_cookie=False,
    )
    app = create_app(stack.desk, identify=signin)
    async with (
        serve(app, 0) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as browser,
    ):
        page = await browser.get("/auth/login?next=/approvals")
        assert page.status_code == 502 and "cannot be reached" in page.text


async def test_settings_choose_the_authenticator() -> None:
    assert web_authenticator(ApprovalSettings.from_env({})).development
    oidc = web_authenticator(
        ApprovalSettings.from_env(
            {
                "AGENTFLOW_OIDC_ISSUER": "https://idp.example/",
                "AGENTFLOW_OIDC_CLIENT_ID": "c",
                "AGENTFLOW_OIDC_CLAIM": "email",
                "AGENTFLOW_PUBLIC_URL": "https://approvals.example.com/",
            }
        )
    )
    assert isinstance(oidc, OIDCSignIn) and not oidc.development
    assert (oidc.issuer, oidc.claim, oidc.secure_cookie) == ("https://idp.example", "email", True)
    assert oidc.redirect_uri == "https://approvals.example.com/auth/callback"
    proxy = web_authenticator(
        ApprovalSettings.from_env(
            {
                "AGENTFLOW_IDENTITY_HEADER": "X-Forwarded-User",
                "AGENTFLOW_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
                "AGENTFLOW_PROXY_SECRET": "shh",
            }
        )
    )
    assert not proxy.development and "10.0.0.0/8" in proxy.name
    assert "shh" not in repr(ApprovalSettings(proxy_secret="shh", session_secret="shh"))  # type: ignore[arg-type]
