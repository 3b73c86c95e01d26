"""AgentflowPlugin assembles a worker and a replayer the way temporalio's integrations do."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

# temporalio has no public way to read the name an activity is registered under.
from temporalio.activity import _Definition as ActivityDefinition  # pyright: ignore[reportPrivateUsage]
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, Worker

from agentflow.temporal import AgentflowPlugin, DevServer
from agentflow.temporal.converter import data_converter
from tests.temporal.support import REPLAY_AGENT

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECORDED = Path(__file__).parent / "histories"


async def test_a_worker_with_the_plugin_hosts_both_workflows_and_every_activity(
    dev_server: DevServer,
) -> None:
    client = await dev_server.client()
    worker = Worker(
        client, task_queue=f"plugin-{uuid.uuid4().hex}", plugins=[AgentflowPlugin([REPLAY_AGENT])]
    )
    config = worker.config(active_config=True)
    assert [w.__name__ for w in config.get("workflows", [])] == [
        "AgentWorkflow",
        "ApprovalWorkflow",
    ]
    # The names recorded histories hold: changing one breaks every running conversation.
    names = [ActivityDefinition.must_from_callable(a).name for a in config.get("activities", [])]
    assert names == [
        "agentflow.model_call",
        "agentflow.tool_call",
        "agentflow.notify_approval",
        "agentflow.check_approver",
        "agentflow.check_edit",
        "agentflow.verify_vote",
    ]


async def test_a_replayer_with_the_plugin_replays_the_recorded_histories() -> None:
    replayer = Replayer(
        workflows=[], plugins=[AgentflowPlugin([REPLAY_AGENT])], data_converter=data_converter
    )
    paths = sorted(RECORDED.glob("*.json"))
    assert paths
    for path in paths:
        history = WorkflowHistory.from_json(path.stem.replace("__", "/"), path.read_text())
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None
