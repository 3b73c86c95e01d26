"""What an approval is bound to: one tool, one set of validated arguments, one digest.

The digest is SHA-256 over the canonical JSON of ``{"arguments": ..., "tool": ...}`` (sorted
keys, no insignificant whitespace, UTF-8). A changed price, flight or date is a different digest,
so an approval given for one call can never authorise another.

Digests are canonical for decimals: `canonical_arguments` writes every ``Decimal`` by its
value alone (``2613.00`` and ``2613`` as ``"2613"``, ``2.50`` as ``"2.5"``, ``-0`` as ``"0"``, no
exponent), so the same amount is the same call however the model or an approver wrote it.

An approver who *edits* a call (a cheaper fare, a lower cabin, within the fields the policy lets
them change) approves a new call: the decision carries the edited arguments and their own
digest, and names the digest it was edited from. Who must approve is a sequence of
stages ([`ApprovalStage`][agentflow.ApprovalStage]: manager, then finance; two of three directors),
decided in order.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import types
import uuid
from collections.abc import Iterable
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""What ``json.dumps`` would build on every call with these options; it keeps no state."""


def canonical_json(value: Any) -> str:
    """Serialise JSON-compatible data the same way every time (the input of a digest)."""
    return _CANONICAL.encode(value)


def call_digest(tool: str, arguments: dict[str, Any]) -> str:
    """SHA-256 hex digest of a tool call with its validated, JSON-mode arguments."""
    payload = canonical_json({"arguments": arguments, "tool": tool})
    return hashlib.sha256(payload.encode()).hexdigest()


def canonical_arguments(args: BaseModel) -> dict[str, Any]:
    """The validated arguments in JSON mode with every ``Decimal`` canonical: a digest's input.

    The result is also what a call carries to where it runs (an activity, a resumed run, an
    approver's card), and is validated again there, so it is written the way the arguments
    are sent: by alias, without computed fields, and, for a JSON-schema tool (``as_sent_only``),
    without the properties the call did not send, which the schema would refuse as ``null``.
    A model that can hold no ``Decimal`` (decided once per model class) is dumped as it is.
    """
    unset = bool(getattr(type(args), "as_sent_only", False))
    # round_trip: no computed fields, which the arguments model would refuse as extra input.
    dumped = args.model_dump(mode="json", by_alias=True, exclude_unset=unset, round_trip=True)
    if not _may_hold_decimal(type(args)):
        return dumped
    python = args.model_dump(by_alias=True, exclude_unset=unset, round_trip=True)
    return _with_canonical_decimals(python, dumped)


_MAX_PLAIN_EXPONENT = 100
"""Beyond this many zeros a canonical decimal keeps its exponent (no amount comes near)."""


def _canonical_decimal(value: Decimal) -> str:
    """``value`` written by its value alone: no trailing zeros, no exponent, ``0`` for any zero.

    A number whose plain form would be absurdly long (``1E+999999999``) keeps an exponent, in
    the same canonical digits, rather than be written out in full.
    """
    if not value.is_finite():
        return str(value)
    sign, digits, exponent = value.as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    if not text:
        return "0"
    exponent = cast(int, exponent) + len(digits) - len(text)
    if abs(exponent) > _MAX_PLAIN_EXPONENT:
        plain = f"{text}E{exponent:+d}"
    elif exponent >= 0:
        plain = text + "0" * exponent
    else:
        whole, fraction = text[:exponent], text[exponent:].rjust(-exponent, "0")
        plain = f"{whole or '0'}.{fraction}"
    return f"-{plain}" if sign else plain


def _with_canonical_decimals(python: Any, dumped: Any) -> Any:
    """``dumped``, a JSON-mode dump, with its decimals canonical.

    ``python`` is the Python-mode dump of the same arguments: the same shape, with the decimals
    still ``Decimal``. Where a serializer of the model changed the shape, ``dumped`` stays.
    """
    if isinstance(python, Decimal):
        return _canonical_decimal(python)
    if isinstance(python, dict) and isinstance(dumped, dict):
        values = list(cast(dict[Any, Any], python).values())
        items = list(cast(dict[str, Any], dumped).items())
        if len(values) == len(items):
            pairs = zip(values, items, strict=True)
            return {key: _with_canonical_decimals(item, value) for item, (key, value) in pairs}
    elif isinstance(python, list | tuple | set | frozenset) and isinstance(dumped, list):
        values, listed = list(cast(Iterable[Any], python)), cast(list[Any], dumped)
        if len(values) == len(listed):
            pairs = zip(values, listed, strict=True)
            return [_with_canonical_decimals(item, value) for item, value in pairs]
    return cast(Any, dumped)


_NO_DECIMAL = (str, bytes, int, float, date, time, timedelta, uuid.UUID, enum.Enum, types.NoneType)
"""Types whose Python-mode dump is never a ``Decimal``."""
_GENERICS = {list, tuple, set, frozenset, dict, Union, types.UnionType}


@functools.cache
def _may_hold_decimal(model: type[BaseModel]) -> bool:
    """Whether a dump of ``model`` may contain a ``Decimal`` (anything unknown: it may)."""
    seen: set[type[BaseModel]] = set()

    def may(annotation: Any) -> bool:
        origin = get_origin(annotation)
        if origin is Annotated:
            return may(get_args(annotation)[0])
        if origin is Literal:
            return any(isinstance(arg, Decimal) for arg in get_args(annotation))
        if origin in _GENERICS:
            return any(may(arg) for arg in get_args(annotation) if arg is not ...)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return fields(annotation)
        return not (isinstance(annotation, type) and issubclass(annotation, _NO_DECIMAL))

    def fields(cls: type[BaseModel]) -> bool:
        if cls in seen:
            return False
        seen.add(cls)
        if cls.model_config.get("extra") == "allow" or cls.model_computed_fields:
            return True
        return any(may(info.annotation) for info in cls.model_fields.values())

    return fields(model)


class ApprovalStage(BaseModel):
    """One step of an approval: ``required`` distinct people among ``approvers`` must approve.

    ``escalate_to`` are added to the stage's approvers, one at a time, each time the stage
    escalates (nobody decided in time), so a manager's silence reaches their director.
    """

    model_config = ConfigDict(frozen=True)

    approvers: tuple[str, ...]
    required: int = Field(default=1, ge=1)
    escalate_to: tuple[str, ...] = ()
    name: str = ""

    def eligible(self, level: int | None = None) -> tuple[str, ...]:
        """Who may vote in this stage after ``level`` escalations (``None``: ever)."""
        extra = self.escalate_to if level is None else self.escalate_to[:level]
        return tuple(dict.fromkeys((*self.approvers, *extra)))


def approval_plan(
    approvers: tuple[str, ...], stages: tuple[ApprovalStage, ...]
) -> tuple[ApprovalStage, ...]:
    """The stages to collect, in order.

    ``stages`` when there are any; else one stage in which ``approvers[0]`` decides and the
    request escalates along the rest of ``approvers``.
    """
    if stages:
        return stages
    return (ApprovalStage(approvers=approvers[:1], escalate_to=approvers[1:]),)


class ApprovalRequest(BaseModel):
    """A human decision the runtime needs before it may execute exactly this call."""

    model_config = ConfigDict(frozen=True)

    tool: str
    tool_call_id: str
    arguments: dict[str, Any]
    digest: str
    requester: str | None
    conversation_id: str = ""
    """The conversation the call was proposed in: a decision is only valid there."""
    approvers: tuple[str, ...] = ()
    """The escalation chain of a one-stage approval (nearest first); with ``stages``, everyone
    named in them. Empty (and no stages): nobody may decide."""
    reasons: tuple[str, ...] = ()
    """Why approval is needed: the text of every rule that asked for it."""
    stages: tuple[ApprovalStage, ...] = ()
    """Ordered stages; empty means one stage: ``approvers[0]``, escalating along the rest."""
    editable: tuple[str, ...] = ()
    """Argument names an approver may change before approving (the policy's choice)."""
    provenance: dict[str, str] = Field(default_factory=dict[str, str])
    """Where each argument value came from, in words, by path: what the approver is shown
    (see `agentflow.provenance`). Not part of the digest."""
    contract: str = ""
    """The version of the tool's arguments contract the call was validated under
    (``Tool.contract``); a call run under another version is refused as voided. Empty in
    requests made before versions were recorded: only the digest binds those."""

    def plan(self) -> tuple[ApprovalStage, ...]:
        """The stages to collect, in order (see [`stages`][agentflow.ApprovalRequest.stages])."""
        return approval_plan(self.approvers, self.stages)

    def decide(
        self,
        outcome: Literal["approved", "denied", "expired"],
        *,
        approver: str | None = None,
        reason: str = "",
        stage_approvals: tuple[tuple[str, ...], ...] = (),
    ) -> ApprovalDecision:
        """A decision on exactly this request: its conversation, its tool call, its digest."""
        return ApprovalDecision(
            digest=self.digest,
            outcome=outcome,
            approver=approver,
            reason=reason,
            stage_approvals=stage_approvals,
            conversation_id=self.conversation_id,
            tool_call_id=self.tool_call_id,
            contract=self.contract,
        )

    def approve(self, approver: str, *, reason: str = "") -> ApprovalDecision:
        """``approver`` approves exactly this request."""
        return self.decide("approved", approver=approver, reason=reason)

    def deny(self, approver: str, *, reason: str = "") -> ApprovalDecision:
        """``approver`` denies this request."""
        return self.decide("denied", approver=approver, reason=reason)


class ApprovalDecision(BaseModel):
    """A decision on one `ApprovalRequest`: the approval it decides and the call's digest.

    ``conversation_id`` and ``tool_call_id`` name the approval (the request it answers); a
    decision is accepted only by that conversation, for that tool call, and only once. Build
    one with [`ApprovalRequest.decide`][agentflow.ApprovalRequest.decide] (or ``approve``/``deny``)
    so that it names them.
    """

    model_config = ConfigDict(frozen=True)

    conversation_id: str = ""
    """The conversation of the request this decision answers."""
    tool_call_id: str = ""
    """The tool call of the request this decision answers."""
    digest: str
    """The digest of the call this decision is about: the edited call when ``edited_from``."""
    outcome: Literal["approved", "denied", "expired"]
    approver: str | None = None
    """The authority of the last vote (the one that completed or ended the approval)."""
    reason: str = ""
    stage_approvals: tuple[tuple[str, ...], ...] = ()
    """Per stage, the authorities who approved; empty means ``((approver,),)``."""
    edited_from: str | None = None
    """The digest of the proposed call, when the approver edited it into this one."""
    arguments: dict[str, Any] | None = None
    """The edited call's validated arguments (set exactly when ``edited_from`` is)."""
    contract: str = ""
    """The request's ``contract``: the version of the tool's arguments this decision is for."""

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"

    @property
    def request_digest(self) -> str:
        """The digest of the request this decision answers (before any edit)."""
        return self.edited_from or self.digest

    @property
    def approval_key(self) -> str:
        """Names the approval decided: conversation, tool call and requested digest."""
        return f"{self.conversation_id}/{self.tool_call_id}/{self.request_digest}"

    def approvals_by_stage(self) -> tuple[tuple[str, ...], ...]:
        if self.stage_approvals:
            return self.stage_approvals
        return ((self.approver,),) if self.approver else ()
