"""Signed checkpoints: the chain's head at a record, signed, kept in the store and outside it.

The hash chain shows a record edited, deleted or moved, but not the end of the trail cut off,
the table emptied, or the chain rewritten from some record on: each of those leaves a chain that
is consistent with itself. A checkpoint pins it: "record ``seq`` had hash ``head``", signed with
Ed25519 by the process that writes the trail. ``agentflow audit verify`` checks every checkpoint
against the chain, so a cut-off end (a checkpoint past the last record) and a rewrite (a
checkpoint whose record now has another hash) are named, with nobody keeping heads by hand.

Checkpoints are written by `Checkpointer` every ``every`` records (and when the trail's
exporter shuts down), into the store's checkpoint table, and exported: appended as JSON lines to
a file, emitted as an OpenTelemetry log record (over OTLP as ``OTEL_LOGS_EXPORTER`` says: see
[`configure_tracing`][agentflow.audit.configure_tracing]), and logged on the
``agentflow.audit.checkpoints`` logger. A copy outside the database is what catches someone who
can empty both tables.

The key: an Ed25519 private key (PEM, ``agentflow audit keygen``) where the trail is written;
the public key is all a verifier needs, and its id (the first 16 hex digits of SHA-256 of the
raw public key) is in every checkpoint, so keys can rotate. A database user without the private
key cannot sign a checkpoint for a rewritten chain. Without a key, checkpoints are written
unsigned: they still bound what a view re-checks, and catch an honest mistake, but prove nothing
against someone who can write the database.

Views (``agentflow trace``, the timeline) verify from the last checkpoint
(`verify_view`): the records since it, and the records shown with their links to the
records before them. Their cost depends on the checkpoint interval and the conversation, never
on the size of the store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from opentelemetry import context as otel_context
from opentelemetry._logs import Logger, SeverityNumber

from agentflow.binding import canonical_json
from agentflow.exceptions import ConfigurationError

SIGNING_KEY_ENV = "AGENTFLOW_AUDIT_SIGNING_KEY"
"""The path of the PEM Ed25519 private key checkpoints are signed with."""
VERIFY_KEYS_ENV = "AGENTFLOW_AUDIT_VERIFY_KEYS"
"""Paths of PEM public (or private) keys checkpoints are verified with, comma-separated."""
CHECKPOINT_FILE_ENV = "AGENTFLOW_AUDIT_CHECKPOINT_FILE"
"""A JSON-lines file every checkpoint is appended to (a copy outside the database)."""
ALGORITHM = "ed25519"
UNSIGNED = "none"
CHECKPOINT_EVENT = "agentflow.audit.checkpoint"
"""The event name of a checkpoint's log record; its attributes are the checkpoint's fields
under this prefix (``agentflow.audit.checkpoint.seq``, ``.head``, ``.signature``, ...)."""
DEFAULT_EVERY = 1_000
"""Records between two checkpoints: what a view re-checks at most, besides what it shows."""

CHECKPOINT_LOGGER = "agentflow.audit.checkpoints"
"""The logger checkpoints are logged on (Python's ``logging`` and OpenTelemetry's)."""

log = logging.getLogger(CHECKPOINT_LOGGER)


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """Record ``seq`` of the trail had hash ``head`` at ``at_ns``, signed by ``key_id``."""

    seq: int
    head: str
    at_ns: int
    key_id: str = ""
    algorithm: str = UNSIGNED
    signature: str = ""

    def payload(self) -> bytes:
        return canonical_json(
            {"seq": self.seq, "head": self.head, "at_ns": self.at_ns, "key_id": self.key_id}
        ).encode()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Checkpoint:
        data = json.loads(line)
        return cls(
            seq=int(data["seq"]),
            head=str(data["head"]),
            at_ns=int(data["at_ns"]),
            key_id=str(data.get("key_id", "")),
            algorithm=str(data.get("algorithm", UNSIGNED)),
            signature=str(data.get("signature", "")),
        )


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key that signs checkpoints."""

    private: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.private.public_key())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str | Path) -> SigningKey:
        key = serialization.load_pem_private_key(_read(path), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"{path} is not an Ed25519 private key")
        return cls(key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SigningKey | None:
        path = environ.get(SIGNING_KEY_ENV)
        return cls.load(path) if path else None

    def sign(self, seq: int, head: str, at_ns: int) -> Checkpoint:
        unsigned = Checkpoint(seq=seq, head=head, at_ns=at_ns, key_id=self.key_id)
        signature = base64.b64encode(self.private.sign(unsigned.payload())).decode()
        return Checkpoint(
            seq=seq,
            head=head,
            at_ns=at_ns,
            key_id=self.key_id,
            algorithm=ALGORITHM,
            signature=signature,
        )

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class VerifyKeys:
    """The public keys checkpoints are checked with, by key id."""

    keys: Mapping[str, Ed25519PublicKey]

    @classmethod
    def of(cls, *keys: Ed25519PublicKey | SigningKey) -> VerifyKeys:
        public = [k.private.public_key() if isinstance(k, SigningKey) else k for k in keys]
        return cls({key_id(k): k for k in public})

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> VerifyKeys:
        public: list[Ed25519PublicKey] = []
        for path in paths:
            data = _read(path)
            key = (
                serialization.load_pem_private_key(data, password=None).public_key()
                if b"PRIVATE KEY" in data
                else serialization.load_pem_public_key(data)
            )
            if not isinstance(key, Ed25519PublicKey):
                raise ConfigurationError(f"{path} is not an Ed25519 key")
            public.append(key)
        return cls.of(*public)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> VerifyKeys | None:
        """``AGENTFLOW_AUDIT_VERIFY_KEYS``, else the signing key's public half, else ``None``."""
        paths = [p.strip() for p in environ.get(VERIFY_KEYS_ENV, "").split(",") if p.strip()]
        if not paths and environ.get(SIGNING_KEY_ENV):
            paths = [environ[SIGNING_KEY_ENV]]
        return cls.load(paths) if paths else None

    def problem(self, checkpoint: Checkpoint) -> str | None:
        """Why ``checkpoint``'s signature is not good, ``None`` when it is."""
        if checkpoint.algorithm != ALGORITHM:
            return f"checkpoint at record {checkpoint.seq} is not signed"
        key = self.keys.get(checkpoint.key_id)
        if key is None:
            return (
                f"checkpoint at record {checkpoint.seq} is signed by key {checkpoint.key_id!r}, "
                "which is not among the verification keys"
            )
        try:
            key.verify(base64.b64decode(checkpoint.signature), checkpoint.payload())
        except (InvalidSignature, ValueError):
            return f"checkpoint at record {checkpoint.seq} has a bad signature"
        return None


def read_checkpoint_file(path: str | Path) -> list[Checkpoint]:
    """The checkpoints exported to ``path`` (JSON lines), oldest first."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the checkpoint file {path}: {exc}") from None
    try:
        return [Checkpoint.from_json(line) for line in lines if line.strip()]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path} is not a checkpoint file: {exc}") from None


class Checkpointer:
    """Writes a checkpoint every ``every`` records appended, and when told to (`write`).

    Args:
        key: signs each checkpoint; ``None`` writes them unsigned.
        every: records between two checkpoints.
        file: a JSON-lines file each checkpoint is appended to as well.
    """

    def __init__(
        self,
        *,
        key: SigningKey | None = None,
        every: int = DEFAULT_EVERY,
        file: str | Path | None = None,
    ) -> None:
        if every < 1:
            raise ConfigurationError("checkpoints: every must be 1 or more records")
        self.key = key
        self.every = every
        self.file = Path(file) if file is not None else None
        self.logs: Logger | None = None
        """An OpenTelemetry logger each checkpoint is emitted on as a log record (see
        [`export_to`][agentflow.audit.Checkpointer.export_to])."""
        self._last_seq: int | None = None

    def export_to(self, logs: Logger) -> None:
        """Emit every checkpoint written from now on as a log record on ``logs``."""
        self.logs = logs

    def make(self, seq: int, head: str) -> Checkpoint:
        at_ns = time.time_ns()
        if self.key is None:
            return Checkpoint(seq=seq, head=head, at_ns=at_ns)
        return self.key.sign(seq, head, at_ns)

    def due(self, seq: int, last_checkpoint: int) -> bool:
        return seq - max(last_checkpoint, self._last_seq or 0) >= self.every

    def written(self, checkpoint: Checkpoint) -> None:
        """Export a checkpoint the store has just committed."""
        self._last_seq = checkpoint.seq
        line = checkpoint.to_json()
        log.info(line, extra={"agentflow.checkpoint": asdict(checkpoint)})
        if self.logs is not None:
            self.logs.emit(
                timestamp=checkpoint.at_ns,
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                body=line,
                event_name=CHECKPOINT_EVENT,
                attributes={
                    f"{CHECKPOINT_EVENT}.{key}": value for key, value in asdict(checkpoint).items()
                },
                # A checkpoint is no step of whatever span is current when it is written.
                context=otel_context.Context(),
            )
        if self.file is not None:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            with self.file.open("a") as handle:
                handle.write(line + "\n")


def checkpoint_problems(
    checkpoints: Sequence[Checkpoint],
    hashes: Mapping[int, str],
    last_seq: int,
    keys: VerifyKeys | None,
) -> list[tuple[int, str]]:
    """``(seq, message)`` for each checkpoint the chain (``hashes`` by seq) contradicts.

    ``hashes`` holds the chain's hash at each checkpoint's record, where that record exists.
    """
    problems: list[tuple[int, str]] = []
    signed_from = min((c.seq for c in checkpoints if c.algorithm != UNSIGNED), default=None)
    for checkpoint in checkpoints:
        # With keys, every checkpoint since the first signed one must verify: an unsigned one
        # there was written by someone without the key. Older ones predate the key.
        if keys is not None and signed_from is not None and checkpoint.seq >= signed_from:
            bad = keys.problem(checkpoint)
            if bad is not None:
                problems.append((checkpoint.seq, bad))
                continue
        found = hashes.get(checkpoint.seq)
        if checkpoint.seq > last_seq:
            problems.append(
                (
                    checkpoint.seq,
                    f"the checkpoint at record {checkpoint.seq} is past the end of the trail "
                    f"(record {last_seq}): records were removed from the end",
                )
            )
        elif found is None:
            problems.append(
                (checkpoint.seq, f"record {checkpoint.seq}, where a checkpoint is, is missing")
            )
        elif found != checkpoint.head:
            problems.append(
                (
                    checkpoint.seq,
                    f"record {checkpoint.seq} no longer has the hash its checkpoint signed "
                    f"({checkpoint.head}): the chain was rewritten",
                )
            )
    return problems


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the key {path}: {exc}") from None
