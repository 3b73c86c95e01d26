"""How a request is summarised for the human who decides it, in Slack, the web inbox, the CLI.

An application knows what its tool calls mean (a flight, a price); agentflow only knows tool
names and arguments. A `Summariser` is the plain callable that bridges the two; without
one, every argument is shown as it is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

from agentflow.binding import ApprovalRequest


@dataclass(frozen=True, kw_only=True)
class Summary:
    """How an application wants one of its requests shown to the approver."""

    title: str
    fields: tuple[tuple[str, str], ...] = ()
    """(label, value) pairs: the trip, the price, whatever the approver needs to judge."""


Summariser = Callable[[ApprovalRequest], Summary]
"""Builds the `Summary` of a request, e.g. by re-quoting the offer it names."""


def default_summary(request: ApprovalRequest) -> Summary:
    """The tool's name and its arguments, one field each."""
    fields = tuple(
        (name, value if isinstance(value, str) else json.dumps(value))
        for name, value in request.arguments.items()
    )
    return Summary(title=request.tool, fields=fields)


def provenance_fields(request: ApprovalRequest) -> tuple[tuple[str, str], ...]:
    """One (label, value) per argument: where its value came from, as the runtime traced it.

    Every channel shows these after the application's summary (see `with_provenance`).
    """
    return tuple((f"Source of {path}", where) for path, where in request.provenance.items())


def with_provenance(summary: Summary, request: ApprovalRequest) -> Summary:
    """``summary`` followed by `provenance_fields`.

    Whatever the application's summariser shows, the approver sees where the arguments came from.
    """
    extra = provenance_fields(request)
    return dataclasses.replace(summary, fields=(*summary.fields, *extra)) if extra else summary
