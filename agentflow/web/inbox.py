"""``/approvals``: a server-rendered inbox for approvers when Slack is not configured.

It lists what one employee may decide now (as an approver, or as the delegate of one on leave)
and posts decisions through the same :class:`~agentflow.approvals.desk.ApprovalDesk` as Slack and
the CLI, so the same rules apply.

Who is looking is the job of an :data:`Identify` callable. The default, :func:`dev_identity`,
believes a ``?as=`` query parameter: like the CLI's ``--as``, it is for a laptop, not for a
network. Behind an authenticating proxy use :func:`header_identity`. Each form carries an HMAC
of (person, approval, digest) under a per-app secret, so another site cannot make a logged-in
approver's browser post a decision (CSRF).

When the policy lets approvers edit some arguments (``request.editable``), a third form approves
with those arguments changed; the edited call is checked by the workflow like any other edit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from agentflow.approvals.desk import ApprovalDesk, PendingApproval
from agentflow.approvals.summary import Summariser, default_summary
from agentflow.exceptions import ApprovalError

Identify = Callable[[Request], str | None]
"""Returns the employee handle of whoever sent the request, or ``None`` if unknown."""


def dev_identity(request: Request) -> str | None:
    """``?as=bob``: trust the URL. Local development only."""
    return request.query_params.get("as") or None


def header_identity(header: str) -> Identify:
    """Trust ``header`` (e.g. ``X-Forwarded-User``) as set by an authenticating reverse proxy."""

    def identify(request: Request) -> str | None:
        return request.headers.get(header) or None

    return identify


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Approvals{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; }}
article {{ border: 1px solid #ccc; border-radius: 6px; padding: 1rem; margin: 1rem 0; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }}
dt {{ font-weight: bold; }} .note {{ background: #eef; padding: .5rem; }}
form {{ display: inline-block; margin-right: 1rem; vertical-align: top; }}
code {{ font-size: .85em; }}
</style></head><body>
<h1>Approvals{title}</h1>
{body}
</body></html>"""


class Inbox:
    """The inbox page and its decision form handler."""

    def __init__(
        self,
        desk: ApprovalDesk,
        *,
        summarise: Summariser = default_summary,
        identify: Identify = dev_identity,
        secret: bytes | None = None,
        conversation_link: Callable[[str], str] | None = None,
    ) -> None:
        self.desk = desk
        self.summarise = summarise
        self.identify = identify
        self.secret = secret or secrets.token_bytes(32)
        self.conversation_link = conversation_link
        """From an approval id to its conversation's timeline (``None``: no link shown)."""

    async def page(self, request: Request) -> Response:
        employee = self.identify(request)
        if employee is None:
            form = (
                '<form method="get"><label>Your handle <input name="as" required></label> '
                "<button>Show my approvals</button></form>"
            )
            return _html("", form)
        try:
            self.desk.employee(employee)
        except ApprovalError as exc:
            return _html("", f"<p>{escape(str(exc))}</p>", status=403)
        message = request.query_params.get("message")
        parts = [f'<p class="note">{escape(message)}</p>'] if message else []
        pending = await self.desk.pending(employee)
        if not pending:
            parts.append("<p>Nothing waits for your decision.</p>")
        parts.extend(self._card(employee, item, request) for item in pending)
        return _html(f" for {employee}", "\n".join(parts))

    async def decide(self, request: Request) -> Response:
        employee = self.identify(request)
        if employee is None:
            return _html("", "<p>Who are you? Open the inbox with your handle.</p>", status=401)
        form = await request.form()
        approval_id, digest = str(form.get("approval_id", "")), str(form.get("digest", ""))
        token = str(form.get("token", ""))
        if not hmac.compare_digest(token, self._token(employee, approval_id, digest)):
            return _html("", "<p>This form is not valid for you; reload the inbox.</p>", 403)
        approve = form.get("decision") == "approve"
        edit = {
            key.removeprefix(EDIT_PREFIX): str(value)
            for key, value in form.multi_items()
            if key.startswith(EDIT_PREFIX)
        }
        try:
            result = await self.desk.decide(
                approval_id,
                employee,
                approve=approve,
                digest=digest,
                reason=str(form.get("reason", "")),
                edit=edit or None,
                channel="web",
            )
            message = f"{result.decision.outcome.capitalize()}: {approval_id}"
            if not result.complete:
                message = f"Your approval is counted; {approval_id} needs more approvals"
            elif result.decision.arguments is not None:
                message += " (approved with your edits)"
        except ApprovalError as exc:
            message = f"Not recorded: {exc}"
        back = {"message": message} | ({"as": employee} if "as" in request.query_params else {})
        return RedirectResponse(f"{request.url.path.rsplit('/', 1)[0]}?{urlencode(back)}", 303)

    def _token(self, employee: str, approval_id: str, digest: str) -> str:
        message = f"{employee}\n{approval_id}\n{digest}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def _card(self, employee: str, item: PendingApproval, request: Request) -> str:
        status = item.status
        req = status.request
        summary = self.summarise(req)
        rows = [("Requested by", req.requester or "?"), *summary.fields]
        rows.append(("Approvers", " → ".join(req.approvers)))
        details = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
        reasons = "".join(f"<li>{escape(r)}</li>" for r in req.reasons)
        note = ""
        if item.delegation is not None:
            until = item.delegation.ends.strftime("%Y-%m-%d %H:%M UTC")
            note = (
                f'<p class="note">You decide as {escape(item.delegation.approver)}\'s delegate '
                f"(on leave until {until}).</p>"
            )
        action = f"{request.url.path.rstrip('/')}/decide"
        if "as" in request.query_params:
            action += "?" + urlencode({"as": employee})
        hidden = (
            f'<input type="hidden" name="approval_id" value="{escape(item.approval_id)}">'
            f'<input type="hidden" name="digest" value="{escape(req.digest)}">'
            f'<input type="hidden" name="token" '
            f'value="{self._token(employee, item.approval_id, req.digest)}">'
        )
        link = ""
        if self.conversation_link is not None:
            href = self.conversation_link(item.approval_id)
            if "as" in request.query_params:
                href += "?" + urlencode({"as": employee})
            link = f' · <a class="timeline" href="{escape(href)}">View conversation</a>'
        return (
            f"<article><h2>{escape(summary.title)}</h2>{note}<dl>{details}</dl>"
            f"<p><strong>Why it needs approval</strong></p><ul>{reasons}</ul>"
            f"<p><code>{escape(item.approval_id)}</code> · "
            f"digest <code>{req.digest[:16]}</code>{link}</p>"
            f'<form method="post" action="{escape(action)}">{hidden}'
            '<button name="decision" value="approve">Approve</button></form>'
            f'<form method="post" action="{escape(action)}">{hidden}'
            '<input name="reason" required placeholder="Reason for denying"> '
            '<button name="decision" value="deny">Deny</button></form>'
            f"{_edit_form(action, hidden, req.editable, req.arguments)}</article>"
        )


EDIT_PREFIX = "edit."


def _edit_form(
    action: str, hidden: str, editable: tuple[str, ...], arguments: dict[str, Any]
) -> str:
    """Approve with the editable arguments changed (none editable: no form)."""
    if not editable:
        return ""
    fields = "".join(
        f'<label>{escape(name)} <input name="{escape(EDIT_PREFIX + name)}" '
        f'value="{escape(_shown(arguments.get(name)))}"></label> '
        for name in editable
    )
    return (
        f'<form method="post" action="{escape(action)}">{hidden}{fields}'
        '<button name="decision" value="approve">Approve with these changes</button></form>'
    )


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _html(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=escape(title), body=body), status_code=status)
