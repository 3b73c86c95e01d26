"""A change to an approval's schedule fails replay, unless it ships behind a patch of its own.

Replay compares the commands a workflow gives, but not a timer's duration: a second reminder
before escalation, shipped as a plain edit, replayed an escalated approval as if it had only
been reminded, so the person it had been escalated to was refused and the first approver asked
again. Each notice's activity now carries its kind and number (``notice-escalated-1``), so the
same edit meets ``notice-escalated-1`` in history where it would send ``notice-reminder-2``, and
replay fails. The way to ship it is the patch helper: ``workflow.patched("second-reminder")``
around the new step keeps every approval recorded before it on its old schedule.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from agentflow.approvals.records import ApprovalResult
from agentflow.temporal.contracts import ApprovalWorkflowInput
from agentflow.temporal.converter import data_converter
from tests.temporal.phases import PHASES, record
from tests.temporal.test_phase_histories import FIXTURE_SETS, load, replay_failures
from workflows.approval import ApprovalWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")


@workflow.defn(name="ApprovalWorkflow", sandboxed=False)
class SecondReminder(ApprovalWorkflow):
    """The schedule change as first shipped: a second reminder before escalation, unpatched."""

    @workflow.init
    def __init__(self, input: ApprovalWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: ApprovalWorkflowInput) -> ApprovalResult:
        return await super().run(input)

    async def _collect(self, stage: int) -> bool:
        timers = self._input.timers
        await self._notify("requested")
        if await self._reminded(stage, timers.remind_after):
            return True
        if await self._second_reminder(stage):
            return True
        if await self._moved_within(stage, timers.escalate_after):
            return True
        if self._level < len(self._plan[stage].escalate_to):
            self._level += 1
            await self._notify("escalated")
        return await self._moved_within(stage, timers.expire_after)

    async def _second_reminder(self, stage: int) -> bool:
        return await self._reminded(stage, self._input.timers.remind_after)


@workflow.defn(name="ApprovalWorkflow", sandboxed=False)
class PatchedSecondReminder(SecondReminder):
    """The same change behind the patch helper, as ``ApprovalWorkflow._collect`` documents."""

    @workflow.init
    def __init__(self, input: ApprovalWorkflowInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: ApprovalWorkflowInput) -> ApprovalResult:
        return await super().run(input)

    async def _second_reminder(self, stage: int) -> bool:
        if workflow.patched("second-reminder"):
            return await super()._second_reminder(stage)
        return False


def _approvals(histories: list[WorkflowHistory]) -> list[WorkflowHistory]:
    def kind(history: WorkflowHistory) -> str:
        started = history.events[0].workflow_execution_started_event_attributes
        return started.workflow_type.name

    return [h for h in histories if kind(h) == "ApprovalWorkflow"]


async def _replay(variant: type[Any], histories: list[WorkflowHistory]) -> dict[str, str]:
    replayer = Replayer(
        workflows=[variant],
        data_converter=data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    approvals = _approvals(histories)
    # Nothing replayed is nothing failed: a filter that matched no approval would pass.
    assert approvals, "no approval among the histories to replay"
    return await replay_failures(approvals, replayer)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def recorded(
    _time_skipping_server: tuple[WorkflowEnvironment, Any],
) -> dict[str, list[WorkflowHistory]]:
    """Approvals recorded by the code in hand: reminded and waiting, escalated and decided."""
    env, _ = _time_skipping_server
    return await record(env, f"schedule-{uuid.uuid4().hex}", ["reminded", "escalated"])


async def test_the_code_in_hand_replays_what_it_recorded(
    recorded: dict[str, list[WorkflowHistory]],
) -> None:
    for histories in recorded.values():
        assert await _replay(ApprovalWorkflow, histories) == {}


async def test_a_second_reminder_shipped_unpatched_fails_replay_of_an_escalated_approval(
    recorded: dict[str, list[WorkflowHistory]],
) -> None:
    (failure,) = (await _replay(SecondReminder, recorded["escalated"])).values()
    assert "notice-escalated-1" in failure
    assert "notice-reminder-2" in failure


async def test_the_same_change_behind_a_patch_replays_every_phase(
    recorded: dict[str, list[WorkflowHistory]],
) -> None:
    committed = [h for name in FIXTURE_SETS for phase in PHASES for h in load(phase, name)]
    for histories in (*recorded.values(), committed):
        assert await _replay(PatchedSecondReminder, histories) == {}
