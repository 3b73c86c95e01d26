"""``/approvals``: a server-rendered inbox for approvers when Slack is not configured.

It lists what one employee may decide now (as an approver, or as the delegate of one on leave)
and posts decisions through the same [`ApprovalDesk`][agentflow.approvals.ApprovalDesk] as Slack and
the CLI, so the same rules apply.

Who is looking is the job of an `Identify` callable, the app's
authenticator (see `agentflow.web.identity`). The default, `dev_identity`, believes
a ``?as=`` query parameter from this machine: like the CLI's ``--as``, it is for a laptop, not
for a network. Each form carries a token
bound to (person, approval, digest), so another site cannot make a logged-in approver's browser
post a decision (see `agentflow.web.csrf`). The page is ``templates/inbox.html``.

When the policy lets approvers edit some arguments (``request.editable``), a third form approves
with those arguments changed; the edited call is checked by the workflow like any other edit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from agentflow.approvals.desk import ApprovalDesk, PendingApproval
from agentflow.approvals.summary import Summariser, default_summary, with_provenance
from agentflow.exceptions import ApprovalError
from agentflow.web.csrf import FormTokens
from agentflow.web.identity import Identify, dev_identity
from agentflow.web.pages import render


@dataclass(frozen=True, kw_only=True)
class _Card:
    """One pending approval as ``inbox.html`` shows it, with what its forms post."""

    approval_id: str
    digest: str
    token: str
    title: str
    rows: list[tuple[str, str]]
    reasons: tuple[str, ...]
    delegate_for: str | None
    """The approver on leave whose request this delegate decides."""
    delegate_until: str
    action: str
    timeline: str | None
    editable: list[tuple[str, str]]
    """The arguments the approver may change, with their current values."""


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
        self.tokens = FormTokens(secret)
        self.conversation_link = conversation_link
        """From an approval id to its conversation's timeline (``None``: no link shown)."""

    async def page(self, request: Request) -> Response:
        employee = self.identify(request)
        if employee is None:
            return _page(request)
        # Whoever the authenticator vouches for sees what the requests name them to decide:
        # being an approver needs no directory entry (see agentflow.approvals.directory).
        pending = await self.desk.pending(employee)
        cards = [self._card(employee, item, request) for item in pending]
        message = request.query_params.get("message")
        return _page(request, employee=employee, cards=cards, message=message)

    async def decide(self, request: Request) -> Response:
        employee = self.identify(request)
        if employee is None:
            return _page(request, 401, problem="Who are you? Open the inbox with your handle.")
        form = await request.form()
        approval_id, digest = str(form.get("approval_id", "")), str(form.get("digest", ""))
        if not self.tokens.valid(
            str(form.get("token", "")), _PURPOSE, employee, approval_id, digest
        ):
            return _page(request, 403, problem="This form is not valid for you; reload the inbox.")
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
            if result.complete:
                paused = await self.desk.paused_conversation(approval_id)
                message += f". Note: {paused}" if paused is not None else ""
        except ApprovalError as exc:
            message = f"Not recorded: {exc}"
        back = {"message": message} | ({"as": employee} if "as" in request.query_params else {})
        return RedirectResponse(f"{request.url.path.rsplit('/', 1)[0]}?{urlencode(back)}", 303)

    def _card(self, employee: str, item: PendingApproval, request: Request) -> _Card:
        req = item.status.request
        summary = with_provenance(self.summarise(req), req)
        as_query = "?" + urlencode({"as": employee}) if "as" in request.query_params else ""
        timeline = None
        if self.conversation_link is not None:
            timeline = self.conversation_link(item.approval_id) + as_query
        delegation = item.delegation
        return _Card(
            approval_id=item.approval_id,
            digest=req.digest,
            token=self.tokens.issue(_PURPOSE, employee, item.approval_id, req.digest),
            title=summary.title,
            rows=[
                ("Requested by", req.requester or "?"),
                *summary.fields,
                ("Approvers", " → ".join(req.approvers)),
            ],
            reasons=req.reasons,
            delegate_for=delegation.approver if delegation is not None else None,
            delegate_until=(
                delegation.ends.strftime("%Y-%m-%d %H:%M UTC") if delegation is not None else ""
            ),
            action=f"{request.url.path.rstrip('/')}/decide" + as_query,
            timeline=timeline,
            editable=[(name, _shown(req.arguments.get(name))) for name in req.editable],
        )


EDIT_PREFIX = "edit."
_PURPOSE = "approval"


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _page(
    request: Request,
    status: int = 200,
    *,
    employee: str | None = None,
    cards: list[_Card] | None = None,
    message: str | None = None,
    problem: str | None = None,
) -> Response:
    """``inbox.html``: the cards, a ``problem`` instead, or (neither) a form asking who it is."""
    context = {"employee": employee, "cards": cards, "message": message, "problem": problem}
    return render(request, "inbox.html", context | {"edit_prefix": EDIT_PREFIX}, status)
