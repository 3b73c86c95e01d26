"""Where the web app may be reached from, and under which names.

Two rules, both checked before a request reaches a page:

- **The bind.** An app that believes whatever a client claims (the development identity,
  ``?as=``) listens on loopback only: `exposure_problem` names what is missing before
  ``agentflow approvals serve`` listens anywhere else.
- **The Host header.** A page on another site can make a browser send requests to a server on
  its own machine under the site's name (DNS rebinding), so the app answers only requests whose
  ``Host`` it was told about: the loopback names when it listens on loopback, the public host
  name (``AGENTFLOW_PUBLIC_URL``'s, or ``--allowed-host``) otherwise. Others get ``400``.
  ``/healthz`` answers under any name, for load balancers' probes; it says nothing but ``ok``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
"""The names a browser on this machine uses for a server on loopback."""
HEALTH_PATH = "/healthz"


def is_loopback(host: str) -> bool:
    """``host`` (an address or ``localhost``) is reachable from this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything: not known to be loopback


def public_host(url: str | None) -> str | None:
    """The host name of a public base URL (``https://approvals.example.com`` → the name)."""
    if not url:
        return None
    host = urlsplit(url).hostname
    if not host:
        return None
    return f"[{host}]" if ":" in host else host


def allowed_hosts(bind: str, public: Iterable[str | None] = ()) -> tuple[str, ...]:
    """The Host names to answer when listening on ``bind``, with the ``public`` names."""
    names = [name.lower() for name in public if name]
    if is_loopback(bind):
        names = [*LOOPBACK_NAMES, *names]
    return tuple(dict.fromkeys(names))


class HostCheck:
    """Starlette's `TrustedHostMiddleware` for every path but ``/healthz``."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts, www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        await self.checked(scope, receive, send)


def exposure_problem(
    bind: str,
    *,
    development: bool,
    hosts: Sequence[str],
    proxy_unrestricted: bool = False,
    cookie_in_clear: bool = False,
) -> str | None:
    """Why the app must not listen on ``bind`` as configured, in one line; ``None``: it may.

    ``development``: the authenticator believes any client; ``hosts``: the Host names allowed;
    ``proxy_unrestricted``: an identity header with no proxy named and no shared secret;
    ``cookie_in_clear``: a sign-in session cookie that would travel over plain HTTP.
    """
    if is_loopback(bind):
        return None
    if development:
        return (
            f"refusing to serve on {bind} with the development identity (?as=): configure "
            "--oidc-issuer (OpenID Connect sign-in) or --identity-header with --trusted-proxy "
            "(an authenticating proxy)"
        )
    if proxy_unrestricted:
        return (
            f"refusing to serve on {bind} with --identity-header alone: name the proxy with "
            "--trusted-proxy (an address or CIDR block) or set AGENTFLOW_PROXY_SECRET"
        )
    if not hosts:
        return (
            f"refusing to serve on {bind} without a public host name for the Host check: "
            "set AGENTFLOW_PUBLIC_URL or --allowed-host"
        )
    if cookie_in_clear:
        return (
            f"refusing to serve OpenID Connect sign-in on {bind} over plain HTTP: "
            "AGENTFLOW_PUBLIC_URL must be an https:// URL (the session cookie is Secure)"
        )
    return None
