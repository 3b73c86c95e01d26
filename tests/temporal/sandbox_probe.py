"""What each workflow run costs the sandbox: ``python -m tests.temporal.sandbox_probe RUNS``.

Replays the committed conversation history ``RUNS`` times, then its approval's, in one pass of
a replayer built with `AgentflowPlugin` (as one worker runs
many workflows: each replay is a new run in a new sandbox), and prints one JSON line: for each
replay, the workflow, the files whose module code the run executed (Python's ``exec`` audit
event) and how often each file had been compiled from source by then (``compile``). Paths are
relative to the folder ``agentflow`` was imported from. Run it in a fresh interpreter: audit
hooks cannot be removed.

With ``--remove``, once the first replay is done, the workflow source files are deleted, as a
deploy that reinstalls the package does for a moment under a running worker: the replays that
follow must still run the code the worker loaded. Use it on a copy of the sources.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from types import CodeType
from typing import Any

HISTORIES = Path(__file__).resolve().parent / "histories"
CONVERSATION = "conv-50c76c528b204dbdaccb9e3824f5e4a3"
APPROVAL = f"{CONVERSATION}/approval/call-book"

_executed: list[str] = []
_compiled: Counter[str] = Counter()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "exec" and args and isinstance(args[0], CodeType):
        _executed.append(args[0].co_filename)
    elif event == "compile" and len(args) > 1 and isinstance(args[1], str):
        _compiled[args[1]] += 1


async def main(runs: int, remove: bool) -> list[dict[str, Any]]:
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    import agentflow
    from agentflow.temporal.converter import data_converter
    from agentflow.temporal.plugin import AgentflowPlugin
    from tests.temporal.support import REPLAY_AGENT

    root = Path(agentflow.__file__).resolve().parents[1]

    def ours(path: str) -> str | None:
        try:
            return Path(path).resolve().relative_to(root).as_posix()
        except ValueError:
            return None

    def load(workflow_id: str) -> WorkflowHistory:
        path = HISTORIES / f"{workflow_id.replace('/', '__')}.json"
        return WorkflowHistory.from_json(workflow_id, path.read_text())

    replays: list[dict[str, Any]] = []

    def close_previous() -> None:
        # The replayer takes the next history once it has replayed the previous one.
        if replays:
            replays[-1]["executed"] = sorted({f for f in map(ours, _executed) if f})
            compiled = {ours(path): n for path, n in _compiled.items()}
            replays[-1]["compiled"] = {f: n for f, n in compiled.items() if f}

    def remove_sources() -> None:
        import importlib.util

        spec = importlib.util.find_spec("agentflow.workflows") or importlib.util.find_spec(
            "workflows"
        )
        assert spec is not None and spec.submodule_search_locations
        for folder in spec.submodule_search_locations:
            for source in Path(folder).glob("*.py"):
                source.unlink()

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for workflow_id in [CONVERSATION] * runs + [APPROVAL] * runs:
            if remove and len(replays) == 1:
                remove_sources()
            close_previous()
            _executed.clear()
            replays.append({"workflow": workflow_id})
            yield load(workflow_id)
        close_previous()

    replayer = Replayer(
        workflows=[], data_converter=data_converter, plugins=[AgentflowPlugin([REPLAY_AGENT])]
    )
    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    failures = {k: str(v) for k, v in results.replay_failures.items()}
    if failures:
        raise SystemExit(f"replay failed: {failures}")
    return replays


if __name__ == "__main__":
    sys.addaudithook(_audit)
    print(json.dumps(asyncio.run(main(int(sys.argv[1]), "--remove" in sys.argv[2:]))))
