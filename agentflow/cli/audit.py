"""``agentflow audit``: check that the audit trail is whole and unaltered.

``agentflow audit verify`` walks the hash chain of the audit store from its first record and
names every record that was edited, deleted, moved to another conversation or reordered. It
exits 0 when the chain is intact and 1 when it is not, so a scheduled job can alert on it.

The head hash it prints is the anchor for the next run (``--expect-head``): it passes as long
as the chain still holds that hash and verifies up to it, however many records were appended
since; without an anchor kept elsewhere, cutting records off the end of the trail, emptying it,
or rewriting it from some record on, cannot be told from an honest trail. An empty trail, and a
store that is not there at all, fail too unless ``--allow-empty`` says that is expected; the
command never creates a store.

Checkpoints (`agentflow.audit.checkpoints`) do that without anyone keeping heads: every
checkpoint in the store, and those of ``--checkpoints FILE`` (the exported copy), must agree with
the chain, and with ``--key`` (or ``AGENTFLOW_AUDIT_VERIFY_KEYS``) their signatures must verify.
``agentflow audit keygen`` makes the signing key; ``agentflow audit checkpoint`` writes one now.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agentflow.cli.trace import DatabaseUrlOption, open_store
from agentflow.exceptions import ConfigurationError

if TYPE_CHECKING:
    from agentflow.audit.store import Verification

audit_app = typer.Typer(
    name="audit", help="Check the audit trail.", no_args_is_help=True, add_completion=False
)


@audit_app.command()
def verify(
    database_url: DatabaseUrlOption = None,
    expect_head: Annotated[
        str | None,
        typer.Option(
            help="An anchor: the head hash a previous verification printed, kept elsewhere. "
            "The records up to it must be unchanged; records appended since are checked too."
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(help="An empty trail, or no store at all, is not a failure."),
    ] = False,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="A file of exported checkpoints (JSON lines): each must agree with the chain."
        ),
    ] = None,
    key: Annotated[
        list[Path] | None,
        typer.Option(
            help="A PEM Ed25519 public key checkpoints are signed with (repeatable); default: "
            "AGENTFLOW_AUDIT_VERIFY_KEYS, else the key AGENTFLOW_AUDIT_SIGNING_KEY names."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify the hash chain: exit 1 and name each edited, deleted, moved or reordered record."""
    from agentflow.audit.checkpoints import VerifyKeys, read_checkpoint_file

    try:
        keys = VerifyKeys.load(key) if key else VerifyKeys.from_env()
        exported = read_checkpoint_file(checkpoints) if checkpoints is not None else []
    except ConfigurationError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=1) from None
    if allow_empty and expect_head is None and not exported:
        result = _verify_if_present(database_url)
    else:
        store = open_store(database_url)
        try:
            result = store.verify(
                expect_head=expect_head, allow_empty=allow_empty, keys=keys, checkpoints=exported
            )
        finally:
            store.dispose()
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    elif result.ok:
        anchored = f"; the anchor is record {result.anchor}" if result.anchor else ""
        Console().print(
            f"[green]✓[/] the audit trail is intact: {result.records} records, "
            f"head {result.head}{anchored}"
        )
    else:
        console = Console(stderr=True)
        empty = any(problem.kind == "empty" for problem in result.problems)
        verdict = "is empty" if empty else "was tampered with"
        console.print(
            f"[bold red]✗ the audit trail {verdict}[/] "
            f"({len(result.problems)} problem(s) in {result.records} records):"
        )
        for problem in result.problems:
            console.print(f"  [red]{problem.kind}:[/] {escape(problem.message)}")
    if not result.ok:
        raise typer.Exit(code=1)


@audit_app.command()
def keygen(
    path: Annotated[Path, typer.Argument(help="Where to write the private key (PEM).")],
) -> None:
    """Make an Ed25519 key to sign checkpoints: PATH (private) and PATH.pub (public)."""
    from agentflow.audit.checkpoints import SigningKey

    if path.exists():
        Console(stderr=True).print(
            f"[bold red]error:[/] {escape(str(path))} exists already", soft_wrap=True
        )
        raise typer.Exit(code=1)
    signing = SigningKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(signing.private_pem())
    public = path.with_name(path.name + ".pub")
    public.write_bytes(signing.public_pem())
    Console().print(
        f"key {signing.key_id}: private {escape(str(path))}, public {escape(str(public))}"
    )


@audit_app.command()
def checkpoint(database_url: DatabaseUrlOption = None) -> None:
    """Write a checkpoint of the trail's head now (signed with AGENTFLOW_AUDIT_SIGNING_KEY)."""
    store = open_store(database_url)
    try:
        written = store.checkpoint()
    finally:
        store.dispose()
    if written is None:
        Console(stderr=True).print("[bold red]error:[/] the audit trail is empty", soft_wrap=True)
        raise typer.Exit(code=1)
    signed = f"signed by {written.key_id}" if written.signature else "unsigned"
    Console().print(f"checkpoint at record {written.seq}, head {written.head} ({signed})")


def _verify_if_present(database_url: str | None) -> Verification:
    """With ``--allow-empty`` and no anchor, a store that is not there is an empty trail."""
    from agentflow.audit.setup import audit_database_url
    from agentflow.audit.store import GENESIS, AuditStore, Verification

    try:
        store = AuditStore.existing(audit_database_url(database_url))
    except ConfigurationError as exc:
        Console(stderr=True).print(f"{escape(str(exc))} (allowed: --allow-empty)")
        return Verification(ok=True, records=0, head=GENESIS, problems=())
    try:
        return store.verify(allow_empty=True)
    finally:
        store.dispose()
