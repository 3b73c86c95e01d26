"""Form tokens: another site cannot make a signed-in browser post one of our forms (CSRF).

Each form the app serves carries a token, an HMAC under a secret of the web process, of what
the form is for (its *purpose*, e.g. ``approval``) and of the values it is bound to (who it was
made for, which approval or conversation). A post is accepted only with the token made for that
very person and those very values, so a token taken from one form decides nothing elsewhere,
and a token from another purpose is worthless even under the same secret.

Give every web process the same secret, or each draws its own: then a page served by one
process must be reloaded before it posts to another.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets


class FormTokens:
    """Issues and checks the tokens of the app's forms."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def issue(self, purpose: str, *bound: str) -> str:
        """The token of a form for ``purpose``, bound to the values ``bound``."""
        # JSON keeps the values apart whatever they hold: ("a\nb", "c") is not ("a", "b\nc").
        message = json.dumps([purpose, *bound]).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def valid(self, token: str, purpose: str, *bound: str) -> bool:
        """Whether ``token`` is the one `issue` gives for the same purpose and values."""
        expected = self.issue(purpose, *bound).encode()
        return hmac.compare_digest(token.encode("utf-8", "surrogatepass"), expected)
