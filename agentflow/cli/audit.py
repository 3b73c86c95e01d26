"""``agentflow audit``: check that the audit trail is whole and unaltered.

``agentflow audit verify`` walks the hash chain of the audit store from its first record and
names every record that was edited, deleted or moved. It exits 0 when the chain is intact and 1
when it is not, so a scheduled job can alert on it. The head hash it prints is the anchor for
the next run (``--expect-head``): without an anchor kept elsewhere, cutting records off the end
of the trail, or rewriting it from some record on, cannot be told from an honest trail.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agentflow.cli.trace import DatabaseUrlOption

audit_app = typer.Typer(
    name="audit", help="Check the audit trail.", no_args_is_help=True, add_completion=False
)


@audit_app.command()
def verify(
    database_url: DatabaseUrlOption = None,
    expect_head: Annotated[
        str | None,
        typer.Option(help="The head hash a previous verification printed, kept elsewhere."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify the hash chain: exit 1 and name each edited, deleted or reordered record."""
    from agentflow.audit.setup import DEFAULT_DATABASE_URL
    from agentflow.audit.store import AuditStore

    store = AuditStore(database_url or DEFAULT_DATABASE_URL)
    try:
        result = store.verify(expect_head=expect_head)
    finally:
        store.dispose()
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    elif result.ok:
        Console().print(
            f"[green]✓[/] the audit trail is intact: {result.records} records, head {result.head}"
        )
    else:
        console = Console(stderr=True)
        console.print(
            f"[bold red]✗ the audit trail was tampered with[/] "
            f"({len(result.problems)} problem(s) in {result.records} records):"
        )
        for problem in result.problems:
            console.print(f"  [red]{problem.kind}:[/] {escape(problem.message)}")
    if not result.ok:
        raise typer.Exit(code=1)
