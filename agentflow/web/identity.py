"""Who is asking: the web app's authenticators.

Every page of the app asks one question, through one seam: `Identify`, a callable from a
request to the employee id of whoever sent it, or ``None`` when nobody is identified. An
`Authenticator` is that callable together with what the app needs around it: the routes
and middleware it brings (a sign-in flow and its session cookie), where to send someone who is
not signed in, and whether it believes anyone who asks (``development``), which decides
whether the app may be reached from other machines at all (see `agentflow.web.hosts`).

Three are built in:

- `DevIdentity` believes ``?as=bob``, like the CLI's ``--as``. It is for a developer's
  machine: it answers only requests from a loopback address that came through no proxy, and
  every page then says "development identity: anyone on this machine can be anyone".
- `TrustedProxy` believes a header (``X-Forwarded-User``) set by a proxy that
  authenticates people, and only from that proxy: the request comes from an allow-listed
  address (an IP or a CIDR), or carries the secret the proxy and the app share.
- `OIDCSignIn` signs people in with OpenID Connect
  (authorization-code flow with PKCE) and keeps them in a signed session cookie.

A plain `Identify` callable still plugs in (`as_authenticator`); it is taken to be
a real authenticator of the application's own making.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import BaseRoute

from agentflow.exceptions import ConfigurationError

Identify = Callable[[Request], str | None]
"""Returns the employee id of whoever sent the request, or ``None`` if unknown."""

DEVELOPMENT_NOTICE = "development identity: anyone on this machine can be anyone"
"""What every page says while `DevIdentity` names the person."""

PROXY_SECRET_HEADER = "X-Agentflow-Proxy-Secret"
"""Where `TrustedProxy` looks for the secret it shares with the proxy."""

LOOPBACK_PROXIES = ("127.0.0.0/8", "::1/128")
"""The proxies `header_identity` trusts when told of none: one on the same machine."""

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


@runtime_checkable
class Authenticator(Protocol):
    """Says who sent a request, and brings what it needs to be able to."""

    @property
    def name(self) -> str:
        """How the app says who identifies people, e.g. ``OpenID Connect (https://idp)``."""
        ...

    @property
    def development(self) -> bool:
        """Believes whatever a client claims: the app must not be reachable from elsewhere."""
        ...

    def identify(self, request: Request) -> str | None:
        """The employee id of whoever sent ``request``, or ``None``."""
        ...

    def sign_in_url(self, request: Request) -> str | None:
        """Where someone not yet identified goes to sign in (``None``: ask for a handle)."""
        ...

    def routes(self) -> Sequence[BaseRoute]:
        """Routes the app must serve for this authenticator (a sign-in callback, say)."""
        ...

    def middleware(self) -> Sequence[Middleware]:
        """Middleware the app must run for this authenticator (a session cookie, say)."""
        ...


class _Plain:
    """What an authenticator brings by default: nothing but ``identify``."""

    def sign_in_url(self, request: Request) -> str | None:
        return None

    def routes(self) -> Sequence[BaseRoute]:
        return ()

    def middleware(self) -> Sequence[Middleware]:
        return ()


def _peer(request: Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address the connection came from (an IPv4 address even when mapped into IPv6)."""
    if request.client is None:
        return None
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def from_this_machine(request: Request) -> bool:
    """The request came over loopback, and says it came through no proxy."""
    peer = _peer(request)
    if peer is None or not peer.is_loopback:
        return False
    # A proxy on this machine in front of the app would make the world's requests look local.
    return not any(name in request.headers for name in _FORWARDING_HEADERS)


class DevIdentity(_Plain):
    """``?as=bob``: trust the URL. For a developer's machine, and refused anywhere else.

    Only a request from a loopback address, with no proxy's forwarding header, is believed;
    ``agentflow approvals serve`` also refuses to listen beyond loopback with it.
    """

    name = "development identity (?as=)"
    development = True

    def identify(self, request: Request) -> str | None:
        if not from_this_machine(request):
            return None
        return request.query_params.get("as") or None


def dev_identity(request: Request) -> str | None:
    """``?as=bob`` from this machine: `DevIdentity.identify`, as a plain callable."""
    return _DEV.identify(request)


_DEV = DevIdentity()


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(addresses: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.7``, ``10.0.0.0/8`` or ``::1`` as networks; anything else is refused by name."""
    found: list[Network] = []
    for text in addresses:
        try:
            found.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"a trusted proxy must be an IP address or a CIDR block, not {text!r}"
            ) from None
    return tuple(found)


@dataclass(frozen=True, eq=False)
class TrustedProxy(_Plain):
    """Believe ``header`` as set by a proxy that authenticates people, and only from it.

    The header counts when the request comes from one of ``proxies`` (IP addresses or CIDR
    blocks; the connection's own address, never a forwarded one) or carries ``secret`` in
    `PROXY_SECRET_HEADER`. From anyone else, and when the header is sent more than once
    (a client's copy next to the proxy's), nobody is identified.
    """

    header: str
    proxies: tuple[Network, ...] = ()
    secret: str | None = field(default=None, repr=False)
    secret_header: str = PROXY_SECRET_HEADER
    development: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not self.proxies and not self.secret:
            raise ConfigurationError(
                f"{self.header} would be believed from anyone: name the proxies it comes from "
                "or the secret they send"
            )

    @property
    def name(self) -> str:
        sources = [str(p) for p in self.proxies] + (["the shared secret"] if self.secret else [])
        return f"{self.header}, set by the proxy at {' or with '.join(sources)}"

    def trusts(self, request: Request) -> bool:
        """The request came from the proxy: an allow-listed address, or the shared secret."""
        if self.secret:
            sent = request.headers.get(self.secret_header, "")
            if hmac.compare_digest(
                sent.encode("utf-8", "surrogateescape"), self.secret.encode("utf-8")
            ):
                return True
        peer = _peer(request)
        return peer is not None and any(peer in network for network in self.proxies)

    def identify(self, request: Request) -> str | None:
        values = request.headers.getlist(self.header)
        if len(values) != 1 or not values[0] or not self.trusts(request):
            return None
        return values[0]


def header_identity(
    header: str, *, proxies: Iterable[str] | None = None, secret: str | None = None
) -> TrustedProxy:
    """Believe ``header`` (e.g. ``X-Forwarded-User``) from the proxy that sets it.

    ``proxies`` (IP addresses, CIDR blocks) default to this machine's loopback when no
    ``secret`` is given either.
    """
    if proxies is None:
        proxies = () if secret else LOOPBACK_PROXIES
    return TrustedProxy(header, networks(proxies), secret=secret)


@dataclass(frozen=True, eq=False)
class _Callable(_Plain):
    """A plain `Identify` callable of the application's own, as an authenticator."""

    function: Identify
    name: str = "the application's own authenticator"
    development: bool = False

    def identify(self, request: Request) -> str | None:
        return self.function(request)


def as_authenticator(identify: Identify | Authenticator) -> Authenticator:
    """``identify`` as an `Authenticator` (`dev_identity` is `DevIdentity`)."""
    if isinstance(identify, Authenticator):
        return identify
    if identify is dev_identity:
        return _DEV
    return _Callable(identify)
