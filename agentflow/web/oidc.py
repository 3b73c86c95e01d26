"""Sign-in with OpenID Connect: the web app's real authenticator.

`OIDCSignIn` runs the authorization-code flow with PKCE (S256) through Authlib's
Starlette client against any OpenID Connect provider — Okta, Entra ID, Google, Keycloak, or
"Sign in with Slack", which is OpenID Connect — found by its issuer's
``/.well-known/openid-configuration``. Routes::

    GET  /auth/login?next=/approvals   to the provider (state, nonce and PKCE verifier kept
                                       in the session)
    GET  /auth/callback                the provider's answer: the code is exchanged, the ID
                                       token verified, the person kept in the session
    POST /auth/logout                  forgets the person

The ID token is checked by Authlib against the provider's keys (``jwks_uri``), and here for
its issuer (the one configured), its audience (this client), its nonce and its lifetime. One
claim, ``claim`` (``sub`` by default; ``email`` or ``preferred_username`` where those are the
org chart's ids), names the employee; an ``email`` the provider says is unverified names
nobody.

The session is Starlette's `SessionMiddleware`: a cookie
signed with ``session_secret`` (give every web process the same one), ``HttpOnly``,
``SameSite=Lax`` (the provider's redirect back is a top-level navigation), ``Secure`` and named
``__Host-…`` unless ``secure_cookie`` is off for a plain-HTTP address on loopback. It expires
``max_age`` seconds after sign-in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlencode

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth  # pyright: ignore[reportMissingTypeStubs]
from joserfc.errors import JoseError
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from agentflow.web.identity import _Plain  # pyright: ignore[reportPrivateUsage]
from agentflow.web.pages import render

try:  # Authlib's HTTP client is httpx2's when that is installed, else httpx's
    from httpx2 import HTTPError as _ClientHTTPError
except ImportError:  # pragma: no cover - depends on what else is installed
    from httpx import HTTPError as _ClientHTTPError

logger = logging.getLogger(__name__)

_FAILURES: tuple[type[Exception], ...] = (
    AuthlibBaseError,
    JoseError,
    httpx.HTTPError,
    _ClientHTTPError,
    ValueError,
    KeyError,
)
"""What a provider that misbehaves or cannot be reached makes Authlib raise."""

LOGIN_PATH = "/auth/login"
CALLBACK_PATH = "/auth/callback"
LOGOUT_PATH = "/auth/logout"
SESSION_MAX_AGE = 8 * 60 * 60
"""Seconds a sign-in lasts: a working day, then the provider is asked again."""

_EMPLOYEE = "agentflow.employee"
_SIGNED_IN = "agentflow.signed_in"
_NEXT = "agentflow.next"
_CLIENT = "agentflow"


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/``: sign-in never redirects elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class OIDCSignIn(_Plain):
    """People sign in with an OpenID Connect provider; the session cookie remembers them."""

    development = False

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        session_secret: str,
        claim: str = "sub",
        redirect_uri: str | None = None,
        secure_cookie: bool = True,
        scope: str = "openid email profile",
        max_age: int = SESSION_MAX_AGE,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.claim = claim
        self.redirect_uri = redirect_uri
        """Where the provider sends people back (default: ``/auth/callback`` on the Host)."""
        self.secure_cookie = secure_cookie
        self.max_age = max_age
        self._session_secret = session_secret
        oauth = OAuth()
        client_kwargs: dict[str, Any] = {
            "scope": scope,
            "code_challenge_method": "S256",
            "timeout": 10,
        }
        if client_secret is None:
            client_kwargs["token_endpoint_auth_method"] = "none"  # a public client: PKCE only
        self._client: Any = oauth.register(  # pyright: ignore[reportUnknownMemberType]
            _CLIENT,
            client_id=client_id,
            client_secret=client_secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs=client_kwargs,
        )

    @property
    def name(self) -> str:
        return f"OpenID Connect ({self.issuer}, claim {self.claim})"

    @property
    def cookie_name(self) -> str:
        # __Host-: the browser keeps it to this exact host, over HTTPS, for every path.
        return "__Host-agentflow-session" if self.secure_cookie else "agentflow-session"

    def identify(self, request: Request) -> str | None:
        if "session" not in request.scope:
            return None
        employee = request.session.get(_EMPLOYEE)
        return employee if isinstance(employee, str) and employee else None

    def sign_in_url(self, request: Request) -> str | None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return f"{LOGIN_PATH}?{urlencode({'next': here})}"

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route(LOGIN_PATH, self.login, methods=["GET"]),
            Route(CALLBACK_PATH, self.callback, methods=["GET"], name="oidc_callback"),
            Route(LOGOUT_PATH, self.logout, methods=["POST"]),
        ]

    def middleware(self) -> Sequence[Middleware]:
        return [
            Middleware(
                SessionMiddleware,
                secret_key=self._session_secret,
                session_cookie=self.cookie_name,
                max_age=self.max_age,
                same_site="lax",
                https_only=self.secure_cookie,
            )
        ]

    # -- the flow ---------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        request.session.pop(_EMPLOYEE, None)
        request.session[_NEXT] = local_path(request.query_params.get("next"))
        redirect_uri = self.redirect_uri or str(request.url_for("oidc_callback"))
        try:
            return cast(Response, await self._client.authorize_redirect(request, redirect_uri))
        except _FAILURES as exc:
            logger.warning("OpenID Connect provider %s unusable: %r", self.issuer, exc)
            return _failed(request, 502, "The sign-in provider cannot be reached now.")

    async def callback(self, request: Request) -> Response:
        try:
            token: Mapping[str, Any] = await self._client.authorize_access_token(
                request,
                claims_options={
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "values": [self.client_id]},
                },
            )
        except _FAILURES as exc:
            logger.warning("sign-in refused: %r", exc)
            return _failed(request, 401, "Sign-in failed; nothing was remembered. Try again.")
        employee = self._employee(token.get("userinfo"))
        target = local_path(request.session.get(_NEXT))
        request.session.clear()  # nothing from before the sign-in is carried into it
        if employee is None:
            return _failed(request, 403, f"The sign-in did not name you by {self.claim!r}.")
        request.session[_EMPLOYEE] = employee
        request.session[_SIGNED_IN] = int(time.time())
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    def _employee(self, claims: object) -> str | None:
        """The employee id the verified ID token's claims name, if any."""
        if not isinstance(claims, Mapping):
            return None  # no ID token: an OAuth provider that is not OpenID Connect
        values = cast(Mapping[str, object], claims)
        if self.claim == "email" and values.get("email_verified") is False:
            return None
        value = values.get(self.claim)
        return value if isinstance(value, str) and value else None


def _failed(request: Request, status: int, problem: str) -> Response:
    return render(request, "signin.html", {"problem": problem}, status)
