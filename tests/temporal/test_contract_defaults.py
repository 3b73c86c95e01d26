"""Contract models evolve only with defaults: the committed histories decode with today's models.

Every payload a history carries — a workflow's input and result, an activity's input and result,
a local activity's result (in its marker), a child's, an update's argument and answer — is
decoded on replay with the type the code in hand declares for it. A field added without a
default makes every recorded payload of that model fail to decode, and each conversation or
approval that carries one stuck (the issue table's "a new required field on an activity
result"). This decodes every payload of every committed history (``histories/`` and every set
of phases under it) with the current models and names, for each that no longer decodes, the
model and the field.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payloads
from temporalio.client import WorkflowHistory

from agentflow.approvals.records import ApprovalNotice, Delegation
from agentflow.binding import ApprovalDecision
from agentflow.cli.replay import workflow_id_of
from agentflow.messages import ModelResponse
from agentflow.temporal import contracts
from agentflow.temporal.activities import AgentActivities
from agentflow.temporal.converter import data_converter
from agentflow.temporal.plugin import workflow_classes
from tests.temporal.support import LOCAL_ACTIVITY_MARKER

HISTORIES = Path(__file__).parent / "histories"


@dataclass(frozen=True)
class Signature:
    args: tuple[Any, ...]
    result: Any


@dataclass(frozen=True)
class Contracts:
    """The types the code in hand declares for what histories carry, by workflow and activity."""

    workflows: Mapping[str, Signature]
    updates: Mapping[tuple[str, str], Signature]
    activities: Mapping[str, Signature]


def current_contracts(replace: Callable[[Any], Any] = lambda hint: hint) -> Contracts:
    """Read from the workflow and activity definitions (``replace`` swaps a type, for tests)."""

    def sig(args: Any, result: Any) -> Signature:
        return Signature(tuple(replace(a) for a in args or ()), replace(result))

    workflows: dict[str, Signature] = {}
    updates: dict[tuple[str, str], Signature] = {}
    for cls in workflow_classes():
        defn = workflow._Definition.must_from_class(cls)  # pyright: ignore[reportPrivateUsage]
        assert defn.name is not None
        workflows[defn.name] = sig(defn.arg_types, defn.ret_type)
        for name, update in defn.updates.items():
            assert name is not None
            updates[defn.name, name] = sig(update.arg_types, update.ret_type)
    activities: dict[str, Signature] = {}
    for member in vars(AgentActivities).values():
        defn = activity._Definition.from_callable(member)  # pyright: ignore[reportPrivateUsage]
        if defn is not None and defn.name is not None:
            activities[defn.name] = sig(defn.arg_types, defn.ret_type)
    return Contracts(workflows, updates, activities)


def committed() -> list[tuple[str, WorkflowHistory]]:
    paths = sorted(HISTORIES.rglob("*.json"))
    return [
        (str(p.relative_to(HISTORIES)), WorkflowHistory.from_json(workflow_id_of(p), p.read_text()))
        for p in paths
    ]


def payloads(history: WorkflowHistory, known: Contracts) -> Iterator[tuple[str, Payloads, Any]]:
    """Each payload of ``history``: where it is, its payloads, the type it decodes to."""
    started = history.events[0].workflow_execution_started_event_attributes
    run = known.workflows[started.workflow_type.name]
    kind = started.workflow_type.name
    scheduled: dict[int, Signature] = {}
    children: dict[int, Signature] = {}
    updates: dict[str, Signature] = {}
    for event in history.events:
        at = f"event {event.event_id}"
        match event.WhichOneof("attributes"):
            case "workflow_execution_started_event_attributes":
                yield f"{at}: {kind} input", started.input, run.args
            case "workflow_execution_completed_event_attributes":
                result = event.workflow_execution_completed_event_attributes.result
                yield f"{at}: {kind} result", result, (run.result,)
            case "workflow_execution_continued_as_new_event_attributes":
                carried = event.workflow_execution_continued_as_new_event_attributes.input
                yield f"{at}: {kind} continued-as-new input", carried, run.args
            case "activity_task_scheduled_event_attributes":
                attrs = event.activity_task_scheduled_event_attributes
                signature = known.activities[attrs.activity_type.name]
                scheduled[event.event_id] = signature
                yield f"{at}: {attrs.activity_type.name} input", attrs.input, signature.args
            case "activity_task_completed_event_attributes":
                attrs = event.activity_task_completed_event_attributes
                signature = scheduled[attrs.scheduled_event_id]
                yield f"{at}: activity result", attrs.result, (signature.result,)
            case "start_child_workflow_execution_initiated_event_attributes":
                attrs = event.start_child_workflow_execution_initiated_event_attributes
                signature = known.workflows[attrs.workflow_type.name]
                children[event.event_id] = signature
                yield f"{at}: {attrs.workflow_type.name} input", attrs.input, signature.args
            case "child_workflow_execution_completed_event_attributes":
                attrs = event.child_workflow_execution_completed_event_attributes
                signature = children[attrs.initiated_event_id]
                yield f"{at}: child result", attrs.result, (signature.result,)
            case "workflow_execution_update_accepted_event_attributes":
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                signature = known.updates[kind, request.input.name]
                updates[request.meta.update_id] = signature
                yield f"{at}: {request.input.name} argument", request.input.args, signature.args
            case "marker_recorded_event_attributes":
                # A local activity's result is in its marker (its input never enters history).
                marker = event.marker_recorded_event_attributes
                if marker.marker_name != LOCAL_ACTIVITY_MARKER:
                    continue  # a patch's (a local activity that failed has no result either)
                (data,) = marker.details["data"].payloads
                name = json.loads(data.data)["activity_type"]
                result = (known.activities[name].result,)
                yield f"{at}: {name} local activity result", marker.details["result"], result
            case "workflow_execution_update_completed_event_attributes":
                attrs = event.workflow_execution_update_completed_event_attributes
                if attrs.outcome.HasField("success"):
                    signature = updates[attrs.meta.update_id]
                    yield f"{at}: update answer", attrs.outcome.success, (signature.result,)
            case _:
                pass


def undecodable(known: Contracts) -> tuple[list[str], set[Any]]:
    """What no longer decodes, one line each naming model and field; and the types decoded."""
    failures: list[str] = []
    decoded: set[Any] = set()
    converter = data_converter.payload_converter
    for name, history in committed():
        for where, carried, hints in payloads(history, known):
            if not carried.payloads:
                continue
            try:
                converter.from_payloads(list(carried.payloads), list(hints))
            except ValidationError as exc:
                for error in exc.errors():
                    field = ".".join(str(part) for part in error["loc"])
                    failures.append(
                        f"{exc.title}.{field}: {error['msg']} ({name}, {where}): a field added to "
                        "a contract model needs a default"
                    )
            else:
                decoded |= set(hints)
    return failures, decoded


def test_every_recorded_payload_decodes_with_the_current_models() -> None:
    failures, decoded = undecodable(current_contracts())
    assert failures == []
    # The check covers the contracts conversations carry; a model no history carries is not.
    assert {
        contracts.AgentWorkflowInput,
        contracts.SendMessage,
        contracts.AgentReply,
        contracts.WaitForTurn,
        contracts.ModelCallInput,
        contracts.ToolCallInput,
        contracts.ToolCallResult,
        contracts.ApprovalWorkflowInput,
        contracts.ApprovalResult,
        contracts.ApprovalVote,
        contracts.ApproverCheck,
        contracts.EditCheck,
        contracts.VoteCheck,
        ApprovalNotice,
        Delegation,
        ApprovalDecision,
        ModelResponse,
    } <= decoded


class AgentReply(contracts.AgentReply):
    """``AgentReply`` with a field added the wrong way: required."""

    priority: int


class ToolCallResult(contracts.ToolCallResult):
    """An activity's result with a field added the right way: with a default."""

    cached: bool = False


def test_a_field_added_without_a_default_is_named_with_its_model() -> None:
    swapped = {contracts.AgentReply: AgentReply, contracts.ToolCallResult: ToolCallResult}
    failures, _ = undecodable(current_contracts(lambda hint: swapped.get(hint, hint)))
    assert failures
    assert all(f.startswith("AgentReply.priority: Field required (") for f in failures)
    assert any("update answer" in f for f in failures)


class TimedToolCallResult(contracts.ToolCallResult):
    """A tool call's result with a field added the wrong way: required."""

    duration_ms: int


def test_a_local_activity_result_that_no_longer_decodes_is_named_with_its_marker() -> None:
    # A read-only tool's call run as a local activity records its result in a marker, not in
    # an activity's completion: decoding only the latter missed it.
    swapped = {contracts.ToolCallResult: TimedToolCallResult}
    failures, _ = undecodable(current_contracts(lambda hint: swapped.get(hint, hint)))
    assert all(f.startswith("TimedToolCallResult.duration_ms: Field required (") for f in failures)
    local = [f for f in failures if "agentflow.tool_call local activity result" in f]
    # The searches of both turns of the committed local-tools phase, at least.
    assert len(local) >= 2 and all("/local-tools/" in f for f in local)


DEFAULTS = Path(__file__).parent / "contract_defaults.json"
"""Every default of the models histories carry, as recorded: ``Model.field`` -> its JSON."""


def contract_defaults(known: Contracts) -> dict[str, str]:
    """The default of every field of every model the contracts reach, as JSON."""
    found: dict[str, str] = {}
    seen: set[Any] = set()

    def walk(hint: Any) -> None:
        if get_origin(hint) is Literal:
            return
        if get_origin(hint) is not None or isinstance(hint, types.UnionType):
            for arg in get_args(hint):
                walk(arg)
            return
        if not isinstance(hint, type) or hint in seen:
            return
        seen.add(hint)
        if issubclass(hint, BaseModel):
            for name, info in hint.model_fields.items():
                if not info.is_required():
                    default = info.get_default(call_default_factory=True, validated_data={})
                    found[f"{hint.__name__}.{name}"] = to_json(default).decode()
                walk(info.annotation)
        elif dataclasses.is_dataclass(hint):
            hints = get_type_hints(hint)
            for f in dataclasses.fields(hint):
                if f.default is not dataclasses.MISSING:
                    found[f"{hint.__name__}.{f.name}"] = to_json(f.default).decode()
                elif f.default_factory is not dataclasses.MISSING:
                    found[f"{hint.__name__}.{f.name}"] = to_json(f.default_factory()).decode()
                walk(hints[f.name])

    for signatures in (known.workflows, known.updates, known.activities):
        for signature in signatures.values():
            for hint in (*signature.args, signature.result):
                walk(hint)
    return dict(sorted(found.items()))


def changed(recorded: Mapping[str, str], current: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The defaults recorded payloads rely on that changed: field -> (recorded, current)."""
    return {k: (recorded[k], v) for k, v in current.items() if recorded.get(k, v) != v}


def test_no_default_of_a_contract_changes() -> None:
    """A payload leaves out every field that holds its default (``agentflow.temporal.converter``)
    and is read back with the default of the day: a changed default would change what every
    recorded payload says. A field added with a default is added to the record here.
    """
    recorded = json.loads(DEFAULTS.read_text())
    current = contract_defaults(current_contracts())
    assert changed(recorded, current) == {}
    assert current.keys() - recorded.keys() == set(), f"record new defaults in {DEFAULTS.name}"
    assert recorded.keys() - current.keys() == set(), "fields removed: drop them from the record"


def test_a_changed_default_is_named() -> None:
    class AgentReply(contracts.AgentReply):
        output: str = "nothing yet"  # was required: a new default, not a changed one
        continued: bool = True  # was False

    known = current_contracts(lambda hint: AgentReply if hint is contracts.AgentReply else hint)
    recorded = json.loads(DEFAULTS.read_text())
    assert changed(recorded, contract_defaults(known)) == {
        "AgentReply.continued": ("false", "true")
    }
