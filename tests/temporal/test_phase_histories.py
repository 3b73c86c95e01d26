"""Histories stopped in every approval phase replay against the code in hand.

``histories/<set>/<phase>/`` holds, for each phase in :data:`tests.temporal.phases.PHASES`,
the conversation and approval histories of a run brought there (some end mid-wait, some passed
a fired reminder, an escalation, an expiry, a denial, stages, M-of-N, a delegate, an edit,
parallel approvals, a continue-as-new, continues-as-new between turns past the limit, a
read-only tool run as a local activity). Each is checked to show its phase, then replayed: a
workflow change that would leave such a conversation stuck fails here, before it ships.

Each set (:data:`FIXTURE_SETS`) was recorded by the code of its time: running approvals may
have started under any of them. ``AGENTFLOW_RECORD_HISTORIES=1`` records the newest set again
from this run (commit it when a change is meant to keep running conversations working and the
old fixtures were checked first); when a patch changes what new histories hold, add a set
rather than re-record an old one, whose histories still run somewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from agentflow.cli.replay import fixture_names, workflow_id_of
from agentflow.temporal import AgentClient, create_worker
from agentflow.temporal.converter import data_converter
from agentflow.temporal.devserver import test_server_path
from agentflow.temporal.plugin import AgentflowPlugin, workflow_runner
from agentflow.testing.channels import RecordingChannel
from tests.temporal.phases import AGENT, NAME, PHASES, Leaves, Run, record
from tests.temporal.support import LOCAL_ACTIVITY_MARKER, tool_calls_run
from workflows.agent import LOCAL_READ_ONLY_TOOLS, RUN_ADDED_MESSAGES

pytestmark = pytest.mark.asyncio(loop_scope="session")

HISTORIES = Path(__file__).parent / "histories"
FIXTURE_SETS = ("phases", "phases-notice-ids", "phases-local-decision", "phases-run-added-messages")
"""Oldest first: ``phases`` was recorded before approval notices were named (the ``notice-ids``
patch of ``ApprovalWorkflow``), ``phases-notice-ids`` after, so that a change to an approval's
schedule meets named notices on replay (see ``test_approval_schedule.py``);
``phases-local-decision`` after a vote's signature check and the decided notice became local
activities (the ``local-decision`` patch); ``phases-run-added-messages`` after a run counted
the messages it added to continue as new between turns (the ``run-added-messages`` patch of
``AgentWorkflow``, whose marker its ``continued-between-turns`` holds)."""
SINCE = {"local-tools": "phases-notice-ids", "continued-between-turns": "phases-local-decision"}
"""Phases an older set lacks, and the first set that holds each: ``phases`` was recorded before
read-only tools could run as local activities (the ``local-read-only-tools`` patch of
``AgentWorkflow``); ``continued-between-turns`` was recorded into ``phases-local-decision`` by
the code before the ``run-added-messages`` patch, whose rule it shows (see
:func:`test_the_rule_before_run_added_messages_replays`)."""
FIXTURES = HISTORIES / FIXTURE_SETS[-1]
"""Where ``AGENTFLOW_RECORD_HISTORIES=1`` records."""
ROOT = Path(__file__).resolve().parents[2]

_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


@dataclass
class Approval:
    notices: list[str] = field(default_factory=list[str])
    votes: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    checks: list[str] = field(default_factory=list[str])
    """The activities run to check votes (``agentflow.check_edit``, ...)."""
    open: bool = True


@dataclass
class Facts:
    """What a phase's histories show, read from their events."""

    runs: list[WorkflowHistory] = field(default_factory=list[WorkflowHistory])
    """The conversation's runs, first first."""
    children: int = 0
    approvals: dict[str, Approval] = field(default_factory=dict[str, Approval])
    local_tools: list[str] = field(default_factory=list[str])
    """The tool calls the conversation ran as local activities (by call id)."""
    remote_tools: list[str] = field(default_factory=list[str])
    """Those it ran as activities (a call run again once approved counts twice)."""
    patches: set[str] = field(default_factory=set[str])
    """The patches the conversation's runs recorded."""

    @property
    def conversation_open(self) -> bool:
        return self.runs[-1].events[-1].event_type not in _CLOSED

    def only(self) -> Approval:
        (approval,) = self.approvals.values()
        return approval


def _payload(payloads: Any) -> Any:
    return json.loads(payloads.payloads[0].data)


def facts(histories: list[WorkflowHistory]) -> Facts:
    found = Facts()
    for history in histories:
        if "/approval/" not in history.workflow_id:
            found.runs.append(history)
            found.children += sum(
                e.HasField("start_child_workflow_execution_initiated_event_attributes")
                for e in history.events
            )
            local, remote = tool_calls_run(history)
            found.local_tools += local
            found.remote_tools += remote
            found.patches |= patches_of(history)
            continue
        approval = found.approvals.setdefault(history.workflow_id, Approval())
        approval.open = history.events[-1].event_type not in _CLOSED
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = event.activity_task_scheduled_event_attributes
                if scheduled.activity_type.name == "agentflow.notify_approval":
                    approval.notices.append(_payload(scheduled.input)["kind"])
                else:
                    approval.checks.append(scheduled.activity_type.name)
            elif event.HasField("marker_recorded_event_attributes"):
                local = _local_activity(event.marker_recorded_event_attributes)
                if local is None:
                    continue
                if local["activity_type"] == "agentflow.notify_approval":
                    approval.notices.append(local["activity_id"].split("-")[1])
                else:
                    approval.checks.append(local["activity_type"])
            elif event.HasField("workflow_execution_update_accepted_event_attributes"):
                update = event.workflow_execution_update_accepted_event_attributes.accepted_request
                approval.votes.append(_payload(update.input.args))
    return found


def patches_of(history: WorkflowHistory) -> set[str]:
    """The ids of the patches ``history`` recorded."""
    return {
        _payload(e.marker_recorded_event_attributes.details["patch-data"])["id"]
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    }


def _local_activity(marker: Any) -> dict[str, Any] | None:
    """What a local activity's marker says about it (type, id), or None for another marker."""
    if marker.marker_name != LOCAL_ACTIVITY_MARKER:
        return None
    return _payload(marker.details["data"])


def _approvers(approval: Approval) -> list[str]:
    return [v["approver"] for v in approval.votes]


SHOWS: dict[str, Callable[[Facts], bool]] = {
    # Each phase's evidence in its histories: a fixture that stopped elsewhere fails.
    "waiting": lambda f: (
        f.conversation_open and f.only().notices == ["requested"] and f.only().open
    ),
    "reminded": lambda f: f.only().notices == ["requested", "reminder"] and f.only().open,
    "escalated": lambda f: (
        f.only().notices == ["requested", "reminder", "escalated", "decided"]
        and _approvers(f.only()) == ["dana"]
    ),
    "expired": lambda f: (
        f.only().notices == ["requested", "reminder", "escalated", "expired"] and not f.only().votes
    ),
    "denied": lambda f: (
        f.only().notices[-1] == "decided" and [v["approve"] for v in f.only().votes] == [False]
    ),
    "stages": lambda f: (
        _approvers(f.only()) == ["bob", "dana"] and f.only().notices.count("requested") == 2
    ),
    "m-of-n": lambda f: _approvers(f.only()) == ["erin", "frank"] and not f.only().open,
    "delegated": lambda f: (
        f.only().votes[0]["delegation"]["approver"] == "bob"
        and "agentflow.check_approver" in f.only().checks
        and not f.only().open
    ),
    "edited": lambda f: (
        f.only().votes[0]["edit"] == {"price": 1800.0}
        and "agentflow.check_edit" in f.only().checks
        and not f.only().open
    ),
    "parallel": lambda f: (
        f.children == 2
        and sorted(a.open for a in f.approvals.values()) == [False, True]
        and f.conversation_open
    ),
    "continued-as-new": lambda f: (
        len(f.runs) == 2
        and f.runs[0].events[-1].event_type
        == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        and len(f.approvals) == 2
    ),
    "continued-between-turns": lambda f: (
        len(f.runs) in (2, 3)  # 3 by the rule before the run-added-messages patch
        and all(
            r.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            for r in f.runs[:-1]
        )
        and f.conversation_open
        and sorted(a.open for a in f.approvals.values()) == [False, True]
    ),
    "local-tools": lambda f: (
        f.local_tools == ["search-ZRH", "search-GVA"]
        and f.remote_tools == ["call-1", "call-1"]  # asked for approval, then run approved
        and LOCAL_READ_ONLY_TOOLS in f.patches
        and _approvers(f.only()) == ["bob"]
        and not f.only().open
    ),
}


def save(phase: str, histories: list[WorkflowHistory]) -> None:
    folder = FIXTURES / phase
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for name, history in fixture_names(histories):
        (folder / name).write_text(history.to_json())


def load(phase: str, fixture_set: str) -> list[WorkflowHistory]:
    """The committed histories of ``phase`` in ``fixture_set`` (a workflow's runs in order)."""
    folder = HISTORIES / fixture_set / phase
    paths = sorted(folder.glob("*.json"), key=lambda p: (workflow_id_of(p), p.stem))
    return [WorkflowHistory.from_json(workflow_id_of(p), p.read_text()) for p in paths]


async def replay_failures(
    histories: list[WorkflowHistory], replayer: Replayer | None = None
) -> dict[str, str]:
    """Per workflow id, why its history does not replay (on agentflow's workflows by default)."""
    replayer = replayer or Replayer(
        workflows=[], data_converter=data_converter, plugins=[AgentflowPlugin([AGENT])]
    )
    failures: dict[str, str] = {}
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = str(result.replay_failure)
    return failures


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def recorded(
    _time_skipping_server: tuple[WorkflowEnvironment, Any],
) -> dict[str, list[WorkflowHistory]]:
    env, _ = _time_skipping_server
    histories = await record(env, f"phases-{uuid.uuid4().hex}")
    if os.environ.get("AGENTFLOW_RECORD_HISTORIES") == "1":
        for phase, phase_histories in histories.items():
            save(phase, phase_histories)
    return histories


@pytest.mark.parametrize("phase", list(PHASES))
async def test_a_run_brought_to_each_phase_shows_it_and_replays(
    recorded: dict[str, list[WorkflowHistory]], phase: str
) -> None:
    histories = recorded[phase]
    assert SHOWS[phase](facts(histories))
    assert await replay_failures(histories) == {}


def held(fixture_set: str) -> list[str]:
    """The phases ``fixture_set`` holds: all but those added after it was recorded."""
    at = FIXTURE_SETS.index(fixture_set)
    return [p for p in PHASES if FIXTURE_SETS.index(SINCE.get(p, FIXTURE_SETS[0])) <= at]


@pytest.mark.parametrize(
    ("fixture_set", "phase"), [(name, phase) for name in FIXTURE_SETS for phase in held(name)]
)
async def test_the_committed_histories_of_each_phase_replay(phase: str, fixture_set: str) -> None:
    histories = load(phase, fixture_set)
    assert histories, f"no committed histories for {phase}: record them (see the docstring)"
    assert SHOWS[phase](facts(histories))
    assert await replay_failures(histories) == {}


@pytest.mark.parametrize("fixture_set", FIXTURE_SETS)
async def test_the_committed_histories_replay_in_the_checking_sandbox(fixture_set: str) -> None:
    """Workers pass the workflow modules through the sandbox, so its checks (no clock, no
    randomness, no I/O) do not see their code; a checking sandbox runs them anew for every run
    and sees every path these histories take."""
    replayer = Replayer(
        workflows=[],
        data_converter=data_converter,
        plugins=[AgentflowPlugin([AGENT])],
        workflow_runner=workflow_runner(checked=True),
    )
    histories = [h for phase in held(fixture_set) for h in load(phase, fixture_set)]
    assert len(histories) >= len(held(fixture_set))
    assert await replay_failures(histories, replayer) == {}


async def test_the_rule_before_run_added_messages_replays(
    recorded: dict[str, list[WorkflowHistory]],
) -> None:
    """The committed conversation continued as new after each turn past the limit; replayed, it
    still does, where a run now goes on until it has added the limit (as the one recorded now,
    and the one committed since, which holds the patch's marker)."""
    before = facts(load("continued-between-turns", "phases-local-decision"))
    assert len(before.runs) == 3, "re-recorded? these must keep the rule before the patch"
    assert RUN_ADDED_MESSAGES not in before.patches
    for now in (
        facts(recorded["continued-between-turns"]),
        facts(load("continued-between-turns", "phases-run-added-messages")),
    ):
        assert len(now.runs) == 2
        assert RUN_ADDED_MESSAGES in now.patches
    assert await replay_failures(before.runs) == {}


async def test_agentflow_replay_replays_every_committed_phase() -> None:
    files = sorted(str(p) for name in FIXTURE_SETS for p in (HISTORIES / name).rglob("*.json"))
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable, "-m", "agentflow.cli", "replay",
            "--agent", "tests.temporal.phases:phases_agent", *files,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(files)} histories replayed: all replay" in result.stdout


async def test_a_delegate_votes_when_the_servers_clock_is_far_from_the_workers() -> None:
    """The workflow and the look-up judge the leave at one moment, the workflow's.

    The look-up once read the worker's wall clock while the workflow compared the leave with
    its own: with the server's clock two months ahead, a delegate on leave cover was refused.
    The server is this test's own: on the suite's shared one, skipping ninety days fires every
    timer other tests left behind, and on a loaded machine the skip outlasted its RPC deadline.
    """
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path()), data_converter=data_converter
    ) as env:
        await env.sleep(timedelta(days=90))
        await _delegate_votes(env)


async def _delegate_votes(env: WorkflowEnvironment) -> None:
    queue = f"far-clock-{uuid.uuid4().hex}"
    channel = RecordingChannel()
    async with create_worker(
        env.client,
        [AGENT],
        task_queue=queue,
        deps={NAME: lambda: None},
        channel=channel,
        org=Leaves(),
    ):
        run = Run(env, AgentClient(env.client, task_queue=queue), channel)
        async with asyncio.timeout(60):
            await PHASES["delegated"](run)
