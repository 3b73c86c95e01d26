"""Who approvers are, as a protocol: approvers can come from anywhere.

A request's approvers are whoever its rule named when it was made: ``NeedsApproval(approvers=
["bob"])`` names bob, and a rule asking
[`OrgChart.approver_chain`][agentflow.approvals.OrgChart.approver_chain] names the requester's
managers. The rulebook (`check_vote`) admits exactly the people the request names, on every
channel: no table has to list them first.

A [`Directory`][agentflow.approvals.Directory] adds what the channels may want to know about people,
and nothing they need to decide: a display name, a Slack user id, and who stands in for an approver
on leave. [`OrgChart`][agentflow.approvals.OrgChart] is one (employees, reporting lines, leaves in
the application's database); [`NoDirectory`][agentflow.approvals.NoDirectory] knows nobody, so
requests alone say who decides; an application can write its own over its HR system or identity
provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from agentflow.approvals.records import Delegation

__all__ = ["Directory", "NoDirectory", "Person"]


class Person(Protocol):
    """What a directory says about someone (an org chart's ``Employee`` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str | None: ...

    @property
    def slack_user_id(self) -> str | None: ...


class Directory(Protocol):
    """People and their stand-ins, for the desk, the channels and the approval workflow."""

    def employee(self, employee_id: str) -> Person | None:
        """The person with this id, or ``None`` when the directory does not know them."""
        ...

    def employees(self, ids: Iterable[str]) -> Mapping[str, Person]:
        """Those of ``ids`` the directory knows, by id."""
        ...

    def by_slack_user(self, slack_user_id: str) -> Person | None:
        """The person a Slack user is, or ``None``."""
        ...

    def delegation(
        self, delegate: str, approvers: Sequence[str], at: datetime
    ) -> Delegation | None:
        """The leave that lets ``delegate`` decide for one of ``approvers`` at ``at``, if any."""
        ...

    def delegates_of(self, approver: str, at: datetime) -> list[str]:
        """Who stands in for ``approver`` at ``at`` (empty unless they are on leave)."""
        ...


class NoDirectory:
    """A directory that knows nobody: the approvers a request names decide it, and no one else.

    Nobody stands in for anybody. On Slack, an approver named by a Slack user id (``U…``) or by
    the email address of their Slack account is reached and recognised without any table (see
    `agentflow.approvals.slack.channel`).
    """

    def employee(self, employee_id: str) -> Person | None:
        return None

    def employees(self, ids: Iterable[str]) -> Mapping[str, Person]:
        return {}

    def by_slack_user(self, slack_user_id: str) -> Person | None:
        return None

    def delegation(
        self, delegate: str, approvers: Sequence[str], at: datetime
    ) -> Delegation | None:
        return None

    def delegates_of(self, approver: str, at: datetime) -> list[str]:
        return []
