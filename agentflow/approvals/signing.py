"""Signed votes: access to Temporal alone decides nothing.

Anyone who can send updates to a Temporal namespace could send ``decide`` to an approval
workflow claiming to be the approver. So the desk (the one path from Slack, the web inbox and
the CLI to the workflow) signs every vote with a secret key that the desk and the workers hold,
and the approval workflow has a worker check the signature (``agentflow.verify_vote``) before it
counts the vote. A vote that is unsigned, signed with an unknown key, altered after signing, too
old, or sent a second time is refused, and the refusal is audited.

The signature is HMAC-SHA256 over the canonical JSON of the approval id, the vote (digest,
approver, decision, reason, delegation claim, edits), the time it was signed and a nonce, with a
key id so that keys can rotate: ``AGENTFLOW_VOTE_KEYS`` holds ``id:secret`` pairs (the secret
base64url-encoded, 32 bytes or more), comma-separated; the first signs, all verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from agentflow.approvals.records import ApprovalVote, VoteSignature
from agentflow.binding import canonical_json
from agentflow.exceptions import ApprovalError, ConfigurationError

__all__ = ["MAX_VOTE_AGE", "VOTE_KEYS_ENV", "VoteKeys", "VoteSignature"]

VOTE_KEYS_ENV = "AGENTFLOW_VOTE_KEYS"
MAX_VOTE_AGE = timedelta(minutes=10)
"""How long a signed vote stays valid: enough for a slow network, too short to hoard votes."""
_MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class VoteKeys:
    """The keys votes are signed and verified with; ``active`` signs."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ConfigurationError(f"{VOTE_KEYS_ENV}: no key {self.active!r} to sign with")
        for key_id, secret in self.keys.items():
            if len(secret) < _MIN_SECRET_BYTES:
                raise ConfigurationError(
                    f"{VOTE_KEYS_ENV}: key {key_id!r} is {len(secret)} bytes; "
                    f"use {_MIN_SECRET_BYTES} or more"
                )

    @classmethod
    def generate(cls, key_id: str = "k1") -> VoteKeys:
        """A fresh random key (for a development stack or a test)."""
        return cls({key_id: secrets.token_bytes(_MIN_SECRET_BYTES)}, key_id)

    @classmethod
    def parse(cls, text: str) -> VoteKeys:
        """``"k2:SECRET,k1:OLDSECRET"``: the first key signs, every key verifies."""
        keys: dict[str, bytes] = {}
        for item in (part.strip() for part in text.split(",")):
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id:
                raise ConfigurationError(f"{VOTE_KEYS_ENV} takes id:secret pairs, not {item!r}")
            try:
                keys[key_id] = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except ValueError:
                raise ConfigurationError(
                    f"{VOTE_KEYS_ENV}: the secret of {key_id!r} is not base64url"
                ) from None
        if not keys:
            raise ConfigurationError(f"{VOTE_KEYS_ENV} is empty")
        return cls(keys, next(iter(keys)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> VoteKeys | None:
        """The keys in ``AGENTFLOW_VOTE_KEYS``, or ``None`` when it is not set."""
        text = environ.get(VOTE_KEYS_ENV, "").strip()
        return cls.parse(text) if text else None

    def to_env(self) -> str:
        """The value of ``AGENTFLOW_VOTE_KEYS`` that `parse` reads back."""
        ordered = [self.active, *(k for k in self.keys if k != self.active)]
        encode = base64.urlsafe_b64encode
        return ",".join(f"{k}:{encode(self.keys[k]).decode().rstrip('=')}" for k in ordered)

    def sign(self, approval_id: str, vote: ApprovalVote, *, now: datetime) -> ApprovalVote:
        """``vote`` signed for ``approval_id`` at ``now`` with the active key."""
        unsigned = vote.model_copy(update={"signature": None})
        nonce = secrets.token_urlsafe(18)
        mac = _mac(self.keys[self.active], approval_id, unsigned, self.active, now, nonce)
        signature = VoteSignature(key_id=self.active, issued_at=now, nonce=nonce, mac=mac)
        return unsigned.model_copy(update={"signature": signature})

    def verify(self, approval_id: str, vote: ApprovalVote, *, now: datetime) -> None:
        """Raise `ApprovalError` unless a desk signed ``vote`` for ``approval_id``.

        Signed by one of these keys, unaltered since, within `MAX_VOTE_AGE` of ``now``.
        """
        signature = vote.signature
        if signature is None:
            raise ApprovalError("the vote is not signed by an approval desk")
        secret = self.keys.get(signature.key_id)
        if secret is None:
            raise ApprovalError(f"the vote is signed with an unknown key {signature.key_id!r}")
        unsigned = vote.model_copy(update={"signature": None})
        expected = _mac(
            secret, approval_id, unsigned, signature.key_id, signature.issued_at, signature.nonce
        )
        if not hmac.compare_digest(expected, signature.mac):
            raise ApprovalError("the vote's signature does not match it (forged or altered)")
        if abs(now - signature.issued_at) > MAX_VOTE_AGE:
            raise ApprovalError("the vote was signed too long ago (or in the future)")


def _mac(
    secret: bytes,
    approval_id: str,
    unsigned: ApprovalVote,
    key_id: str,
    issued_at: datetime,
    nonce: str,
) -> str:
    payload = canonical_json(
        {
            "approval_id": approval_id,
            "vote": unsigned.model_dump(mode="json", exclude={"signature"}),
            "key_id": key_id,
            "issued_at": issued_at.isoformat(),
            "nonce": nonce,
        }
    )
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
