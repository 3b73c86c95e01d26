"""A local OpenID Connect provider for the sign-in tests: the four endpoints a client uses.

``/.well-known/openid-configuration``, ``/authorize`` (signs in whoever :attr:`Provider.user`
names, at once), ``/token`` (the authorization-code grant, with PKCE S256 required and checked,
and client_secret_basic) and ``/jwks``, with an RSA key made for the run. ID tokens are signed
with joserfc (the library Authlib verifies them with). A test makes the provider misbehave
through :attr:`Provider.tamper` (claims overridden in the next ID tokens) and
:attr:`Provider.signing_key` (a key the JWKS does not publish).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "agentflow-tests"
CLIENT_SECRET = "provider-test-secret"


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    claims: dict[str, Any]


@dataclass
class Provider:
    issuer: str = ""
    """Set once the provider listens (``http://127.0.0.1:PORT``)."""
    user: dict[str, Any] = field(default_factory=lambda: {"sub": "bob"})
    tamper: dict[str, Any] = field(default_factory=dict[str, Any])
    key: RSAKey = field(default_factory=lambda: new_key("test-key"))
    signing_key: RSAKey | None = None
    grants: dict[str, Grant] = field(default_factory=dict[str, Grant])
    authorize_requests: list[dict[str, str]] = field(default_factory=list[dict[str, str]])
    token_requests: list[dict[str, str]] = field(default_factory=list[dict[str, str]])

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.metadata),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.authorize_requests.append(query)
        if query.get("response_type") != "code" or query.get("client_id") != CLIENT_ID:
            return PlainTextResponse("unsupported request", status_code=400)
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return PlainTextResponse("PKCE (S256) is required", status_code=400)
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            client_id=query["client_id"],
            redirect_uri=query["redirect_uri"],
            challenge=query["code_challenge"],
            nonce=query.get("nonce"),
            claims=dict(self.user),
        )
        back = {"code": code, "state": query.get("state", "")}
        return RedirectResponse(f"{query['redirect_uri']}?{urlencode(back)}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.grants.pop(form.get("code", ""), None)  # a code is good once
        if grant is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if challenge.decode() != grant.challenge:
            return JSONResponse({"error": "invalid_grant", "why": "PKCE"}, status_code=400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **grant.claims,
            **self.tamper,
        }
        claims = {k: v for k, v in claims.items() if v is not None}  # tamper None: left out
        key = self.signing_key or self.key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }
        )
