"""``agentflow approvals``: decide approvals from a terminal, and serve the web inbox.

The local channel for when Slack is not configured. Every decision goes through the same
[`ApprovalDesk`][agentflow.approvals.ApprovalDesk] as Slack and the web inbox, so the same org chart
rules and the same workflow validator apply. ``--as`` says who you are; like the inbox's
``?as=``, it is trusted, which is why this is a channel for a developer's machine or an
operator's shell, not for approvers at large.

Settings come from the environment (see `agentflow.approvals.settings`), or the options.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from agentflow.approvals.summary import provenance_fields
from agentflow.cli.options import AddressOption, DataDirOption, NamespaceOption, use_data_dir
from agentflow.exceptions import AgentflowError, ApprovalError
from agentflow.extras import require

if TYPE_CHECKING:
    from agentflow.approvals.desk import ApprovalDesk, PendingApproval
    from agentflow.approvals.records import ApprovalStatus
    from agentflow.approvals.settings import ApprovalSettings
    from agentflow.audit.setup import AuditTracerProvider
    from agentflow.web.identity import Authenticator

T = TypeVar("T")

CLI = "cli"
"""How decisions from here are named in the audit trail."""

approvals_app = typer.Typer(
    name="approvals",
    help="Decide approvals without Slack (list, show, approve, deny) and serve the web inbox.",
    no_args_is_help=True,
)


def out() -> Console:
    # Made per use, not at import: the width then follows the terminal (or COLUMNS) of the run.
    return Console()


def err() -> Console:
    return Console(stderr=True)


AsOption = Annotated[str, typer.Option("--as", help="Your employee handle in the org chart.")]
DigestOption = Annotated[
    str | None,
    typer.Option(help="The digest you were shown (a prefix of 12+ characters will do)."),
]
YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        help="Decide without being asked to confirm the call shown (for scripts; --digest is "
        "the safer way: it decides only the call you were shown).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@approvals_app.callback()
def settings(
    ctx: typer.Context,
    database_url: Annotated[
        str | None, typer.Option(envvar="DATABASE_URL", help="The org chart's database.")
    ] = None,
    temporal_address: AddressOption = None,
    namespace: NamespaceOption = None,
    task_queue: Annotated[str | None, typer.Option(envvar="AGENTFLOW_TASK_QUEUE")] = None,
    data_dir: DataDirOption = None,
) -> None:
    use_data_dir(data_dir)
    try:
        require("temporal", "agentflow approvals")
    except AgentflowError as exc:
        err().print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    from agentflow.approvals.settings import ApprovalSettings

    overrides = {"database_url": database_url, "task_queue": task_queue}
    try:
        # TEMPORAL_* (API key, TLS, profile) as Temporal's tools read them; the options win.
        base = ApprovalSettings.from_env().with_temporal(temporal_address, namespace)
        base.temporal()  # a malformed address or namespace is refused before any command runs
    except AgentflowError as exc:
        err().print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    ctx.obj = base.model_copy(update={k: v for k, v in overrides.items() if v})


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return asyncio.run(coroutine)
    except AgentflowError as exc:
        err().print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except SQLAlchemyError as exc:
        # The database said no (locked, unreachable): one line, and the decision may not have
        # been recorded locally, so say how to find out.
        reason = getattr(exc, "orig", None) or exc
        err().print(
            f"[bold red]error:[/] the database refused: {reason}; "
            "run `agentflow approvals show` to see the approval's state"
        )
        raise typer.Exit(code=2) from None


async def _desk(ctx: typer.Context, *, batch: bool = False) -> ApprovalDesk:
    """The desk, recording each vote it hands on (accepted or refused) in the audit trail."""
    from agentflow.approvals.settings import build_desk

    return await build_desk(ctx.obj, tracer_provider=_tracing(ctx, batch=batch))


def _tracing(ctx: typer.Context, *, batch: bool = False) -> AuditTracerProvider:
    """The audit trail's tracer provider, shut down (flushed) when the command ends."""
    from agentflow.audit import configure_tracing

    config: ApprovalSettings = ctx.obj
    # A one-shot command writes its spans as they end; `serve` batches them.
    tracing = configure_tracing(database_url=config.audit_database_url, batch=batch)
    ctx.call_on_close(tracing.shutdown)
    return tracing


@approvals_app.command("list")
def list_(
    ctx: typer.Context,
    as_: Annotated[
        str | None, typer.Option("--as", help="Only what this employee may decide now.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List pending approvals (all of them, or those you may decide with --as)."""

    async def run() -> None:
        desk = await _desk(ctx)
        pending = await desk.pending(as_)
        if as_json:
            print(json.dumps([_listed(item) for item in pending], indent=2))
            return
        console = out()
        if not pending:
            console.print("Nothing waits for a decision" + (f" by {as_}." if as_ else "."))
            return
        console.print(f"[bold]Pending approvals[/] ({len(pending)})")
        for item in pending:
            request = item.status.request
            approvers = ", ".join(item.status.current_approvers)
            if item.delegation is not None:
                approvers += f" (you stand in for {item.delegation.approver})"
            # The id on a line of its own, never wrapped or cut: it is what you copy.
            console.print(item.approval_id, soft_wrap=True, markup=False, highlight=False)
            console.print(
                f"  {request.tool} · requested by {request.requester or '?'} · "
                f"approvers: {approvers} · {'; '.join(request.reasons)}",
                markup=False,
                highlight=False,
            )

    _run(run())


def _listed(item: PendingApproval) -> dict[str, Any]:
    status = item.status
    return {
        "approval_id": item.approval_id,
        "request": status.request.model_dump(mode="json"),
        "current_approvers": list(status.current_approvers),
        "stage": status.stage,
        "stands_in_for": item.delegation.approver if item.delegation is not None else None,
    }


@approvals_app.command()
def show(ctx: typer.Context, approval_id: str) -> None:
    """Show one approval: the exact call, why it needs approval, who may decide, its state."""

    async def run() -> None:
        desk = await _desk(ctx)
        _show(approval_id, await desk.status(approval_id))

    _run(run())


EditOption = Annotated[
    list[str] | None,
    typer.Option(
        "--edit",
        help="Approve with this argument changed, as field=value; repeatable. "
        "Only the fields the policy lets approvers edit; the edited call is checked again.",
    ),
]


@approvals_app.command()
def approve(
    ctx: typer.Context,
    approval_id: str,
    as_: AsOption,
    digest: DigestOption = None,
    edit: EditOption = None,
    yes: YesOption = False,
) -> None:
    """Approve APPROVAL_ID as the employee given with --as (optionally with --edit).

    The exact call is shown first; you confirm it, unless --digest names it or --yes is given.
    """

    async def run() -> None:
        changes = parse_edits(edit or [])
        await _decide(
            ctx, approval_id, as_, approve=True, digest=digest, reason="", edit=changes, yes=yes
        )

    _run(run())


def parse_edits(items: list[str]) -> dict[str, Any] | None:
    """``["price=980", "offer_id=LX318"]`` -> ``{"price": "980", "offer_id": "LX318"}``.

    Values stay text: the tool's arguments model converts them (``"980"`` to a number where the
    field is one) when the edited call is validated, and refuses what it cannot convert.
    """
    if not items:
        return None
    changes: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise ApprovalError(f"--edit takes field=value, not {item!r}")
        changes[name.strip()] = raw
    return changes


@approvals_app.command()
def deny(
    ctx: typer.Context,
    approval_id: str,
    as_: AsOption,
    reason: Annotated[str, typer.Option(help="Why: it goes back to the agent and the requester.")],
    digest: DigestOption = None,
    yes: YesOption = False,
) -> None:
    """Deny APPROVAL_ID as the employee given with --as, with a reason.

    The exact call is shown first; you confirm it, unless --digest names it or --yes is given.
    """
    _run(_decide(ctx, approval_id, as_, approve=False, digest=digest, reason=reason, yes=yes))


async def _decide(
    ctx: typer.Context,
    approval_id: str,
    employee: str,
    *,
    approve: bool,
    digest: str | None,
    reason: str,
    edit: dict[str, Any] | None = None,
    yes: bool = False,
) -> None:
    desk = await _desk(ctx)
    try:
        status = await desk.status(approval_id)
    except ApprovalError as exc:
        await desk.record_refusal(
            approval_id,
            employee,
            approve=approve,
            digest=digest or "",
            reason=str(exc),
            channel=CLI,
        )
        raise
    actual = status.request.digest
    if digest is not None and (len(digest) < 12 or not actual.startswith(digest.lower())):
        refusal = ApprovalError(
            f"the request's digest is {actual[:16]}…, not {digest}: "
            "it is not the call you were shown (give 12 or more characters)"
        )
        await desk.record_refusal(
            approval_id, employee, approve=approve, digest=digest, reason=str(refusal), channel=CLI
        )
        raise refusal
    _show(approval_id, status)
    if digest is None and not yes and not _confirmed(approve):
        refusal = ApprovalError(
            "not decided: confirm the call shown in a terminal, or name it with --digest "
            "(or pass --yes)"
        )
        await desk.record_refusal(
            approval_id, employee, approve=approve, digest=actual, reason=str(refusal), channel=CLI
        )
        raise refusal
    result = await desk.decide(
        approval_id,
        employee,
        approve=approve,
        digest=actual,
        reason=reason,
        edit=edit,
        channel=CLI,
    )
    decision = result.decision
    by = result.decided_by or decision.approver or "?"
    if result.decided_by and result.decided_by != decision.approver:
        by += f" for {decision.approver}"
    if not result.complete:
        out().print(f"your approval is counted (by {by}); the request still needs more approvals")
        return
    out().print(f"[bold]{decision.outcome}[/] by {by}" + (f": {reason}" if reason else ""))
    if decision.arguments is not None:
        executed = ", ".join(f"{k}={v}" for k, v in decision.arguments.items())
        out().print(f"edited: the call that will run is {status.request.tool}({executed})")
        out().print(f"digest {decision.digest}")
    paused = await desk.paused_conversation(approval_id)
    if paused is not None:
        out().print(f"[yellow]note:[/] {escape(paused)}", soft_wrap=True)


def _confirmed(approve: bool) -> bool:
    """Ask in the terminal; without one (a script, a pipe), nobody has seen the call."""
    if not sys.stdin.isatty():
        return False
    return typer.confirm(f"{'Approve' if approve else 'Deny'} exactly this call?", default=False)


def _stages(status: ApprovalStatus) -> str:
    plan = status.request.plan()
    if len(plan) == 1 and plan[0].required == 1:
        return ""
    lines = [
        f"  stage {n}: {stage.required} of {', '.join(stage.eligible())}"
        + (" ← now" if n - 1 == status.stage else "")
        for n, stage in enumerate(plan, start=1)
    ]
    return "stages:\n" + "\n".join(lines) + "\n"


def _show(approval_id: str, status: ApprovalStatus) -> None:
    console = out()
    console.print(approval_id, soft_wrap=True, markup=False, highlight=False)  # whole, to copy
    console.print(_panel(status))


def _panel(status: ApprovalStatus) -> Panel:
    request = status.request
    arguments = "\n".join(f"  {k}: {v}" for k, v in request.arguments.items())
    reasons = "\n".join(f"  • {r}" for r in request.reasons)
    sources = "".join(
        f"  {escape(label)}: {escape(where)}\n" for label, where in provenance_fields(request)
    )
    body = (
        f"[bold]{request.tool}[/]\n{arguments}\n{sources}"
        f"requested by {request.requester or '?'}\n"
        f"why:\n{reasons}\n"
        f"approvers: {' → '.join(request.approvers) or 'none'} "
        f"(now: {', '.join(status.current_approvers) or 'none'})\n"
        f"{_stages(status)}"
        f"editable by the approver: {', '.join(request.editable) or 'nothing'}\n"
        f"state: {status.state} · reminders {status.reminders_sent} · "
        f"escalation {status.escalation_level}\n"
        f"digest {request.digest}"
    )
    return Panel(body, title="approval")


@approvals_app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on. Beyond loopback only with --oidc-issuer or "
            "--identity-header and --trusted-proxy, and a public host name."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    oidc_issuer: Annotated[
        str | None,
        typer.Option(
            help="Sign people in with this OpenID Connect provider (issuer URL), over "
            "AGENTFLOW_OIDC_ISSUER; the client is AGENTFLOW_OIDC_CLIENT_ID and _SECRET.",
            show_default=False,
        ),
    ] = None,
    oidc_client_id: Annotated[
        str | None,
        typer.Option(help="The app's client id at the provider.", show_default=False),
    ] = None,
    oidc_claim: Annotated[
        str | None,
        typer.Option(
            help="The ID token's claim that is the employee id (sub, email, "
            "preferred_username; default sub).",
            show_default=False,
        ),
    ] = None,
    identity_header: Annotated[
        str | None,
        typer.Option(
            help="Take the person from this request header (e.g. X-Forwarded-User) instead of "
            "?as=, set by a proxy that authenticates people; believed only from "
            "--trusted-proxy (or with AGENTFLOW_PROXY_SECRET).",
            show_default=False,
        ),
    ] = None,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            help="Address or CIDR block of the proxy that sets --identity-header; repeatable "
            "(default: this machine's loopback).",
            show_default=False,
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The app's public base URL, over AGENTFLOW_PUBLIC_URL: its host is the Host "
            "name answered, and sign-in returns to it.",
            show_default=False,
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(help="Another Host name to answer; repeatable.", show_default=False),
    ] = None,
) -> None:
    """Serve the web inbox and, with Slack configured, the interactivity endpoint.

    Bound to loopback (the default), ``?as=`` names the person: anyone on this machine can be
    anyone, and every page says so. Anywhere else it needs a real authenticator (OpenID
    Connect, or a proxy's header believed only from that proxy) and a public host name, or it
    refuses to start. Requests are answered only under the names allowed (DNS rebinding).
    """
    try:
        require("web", "agentflow approvals serve")
    except AgentflowError as exc:
        _refuse(str(exc))
    from agentflow.web.hosts import allowed_hosts, exposure_problem, public_host

    base: ApprovalSettings = ctx.obj
    options = {
        "oidc_issuer": oidc_issuer,
        "oidc_client_id": oidc_client_id,
        "oidc_claim": oidc_claim,
        "identity_header": None if identity_header is None else _header_name(identity_header),
        "trusted_proxies": tuple(trusted_proxy) if trusted_proxy else None,
        "public_url": public_url,
        "allowed_hosts": tuple(allowed_host) if allowed_host else None,
    }
    config = base.model_copy(update={k: v for k, v in options.items() if v is not None})
    try:
        authenticator = _authenticator(config)
    except AgentflowError as exc:
        _refuse(str(exc))
    hosts = allowed_hosts(host, [public_host(config.public_url), *config.allowed_hosts])
    public = config.public_url or ""
    problem = exposure_problem(
        host,
        development=authenticator.development,
        hosts=hosts,
        proxy_unrestricted=bool(config.identity_header)
        and not config.trusted_proxies
        and config.proxy_secret is None,
        cookie_in_clear=bool(config.oidc_issuer) and not public.startswith("https://"),
    )
    if problem is not None:
        _refuse(problem)

    async def run() -> None:
        import uvicorn

        from agentflow.approvals.settings import build_desk, build_slack_chat, build_web_app
        from agentflow.audit.store import AuditStore

        tracing = _tracing(ctx, batch=True)
        desk = await build_desk(config, tracer_provider=tracing)
        audit = AuditStore(config.audit_database_url)
        app = build_web_app(
            config,
            desk,
            audit=audit,
            identify=authenticator,
            allowed_hosts=hosts,
            tracer_provider=tracing,
        )
        socket = None
        drain = _nothing_to_drain
        if config.slack_enabled and config.slack_app_token:
            from agentflow.approvals.slack import SlackInteractions, connect_socket_mode

            interactions = SlackInteractions(desk, config.slack_client())
            drain = interactions.drain
            chat = build_slack_chat(config, desk, tracer_provider=tracing)
            socket = await connect_socket_mode(
                interactions,
                config.slack_app_token,
                config.slack_client(),
                events=chat.handle if chat is not None else None,
            )
            err().print("Slack: Socket Mode" + (" (with the DM chat)" if chat else ""))
        elif config.slack_enabled:
            err().print(f"Slack: interactivity at http://{host}:{port}/slack/interactions")
            if config.slack_chat_agent:
                err().print(f"Slack: the DM chat's events at http://{host}:{port}/slack/events")
        _say_who(config, authenticator.name, authenticator.development, host, port, hosts)
        # The client address is the connection's own, never one a header claims: the trusted
        # proxy check and the development identity's loopback check rest on it.
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, proxy_headers=False))
        try:
            await server.serve()
        finally:
            if socket is not None:
                await socket.close()
                await drain()  # clicks already acknowledged still reach their workflows

    _run(run())


def _authenticator(config: ApprovalSettings) -> Authenticator:
    from agentflow.approvals.settings import web_authenticator

    return web_authenticator(config)


def _refuse(problem: str) -> NoReturn:
    """One line on stderr, exit code 2: nothing was started."""
    typer.echo(f"error: {problem}", err=True)
    raise typer.Exit(code=2)


def _say_who(
    config: ApprovalSettings,
    name: str,
    development: bool,
    host: str,
    port: int,
    hosts: tuple[str, ...],
) -> None:
    console = err()
    if development:
        console.print(f"inbox: http://{host}:{port}/approvals?as=YOUR-HANDLE", soft_wrap=True)
        console.print(
            "[bold yellow]development identity:[/] anyone on this machine can be anyone "
            "(?as=); loopback only",
            soft_wrap=True,
        )
    else:
        console.print(f"inbox: http://{host}:{port}/approvals (person from {name})", soft_wrap=True)
    if config.oidc_issuer and config.session_secret is None:
        console.print(
            "sessions end when this process stops: set AGENTFLOW_SESSION_SECRET to keep them "
            "and to share them between web processes",
            soft_wrap=True,
        )
    console.print(f"answering Host: {', '.join(hosts)}", soft_wrap=True, markup=False)


async def _nothing_to_drain() -> None:
    return None


_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP token (RFC 9110)


def _header_name(name: str) -> str:
    if not _HEADER_NAME.match(name):
        _refuse(f"--identity-header must be an HTTP header name, not {name!r}")
    return name


org_app = typer.Typer(name="org", help="The org chart approvals are checked against.")
approvals_app.add_typer(org_app)


@org_app.command("load")
def org_load(ctx: typer.Context, path: Path) -> None:
    """Add the employees, approval limits and leaves of a JSON file to the org chart."""
    from pydantic import ValidationError

    from agentflow.approvals.orgchart import OrgChart, OrgChartSpec

    config: ApprovalSettings = ctx.obj
    try:
        spec = OrgChartSpec.model_validate_json(path.read_text())
    except (OSError, ValidationError) as exc:
        err().print(f"[bold red]error:[/] {path}: {exc}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    OrgChart(config.engine()).load(spec)
    out().print(
        f"loaded {len(spec.employees)} employees, {len(spec.limits)} limits, "
        f"{len(spec.leaves)} leaves"
    )
