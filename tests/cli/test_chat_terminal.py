"""``agentflow chat`` in a terminal: the decision is told when it comes, text is never markup,
and Ctrl-C leaves without a traceback or a warning."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "agentflow.cli"]
REASON = "too dear [bold]for now[/]"


async def _read_until(stream: asyncio.StreamReader, marker: str, seen: list[str]) -> str:
    while not any(marker in line for line in seen):
        line = await asyncio.wait_for(stream.readline(), timeout=60)
        if not line:
            raise AssertionError(f"{marker!r} never came; output: {''.join(seen)}")
        seen.append(line.decode())
    return "".join(seen)


async def test_the_decision_is_told_as_it_comes_and_ctrl_c_is_clean(tmp_path: Path) -> None:
    from tests.temporal.support import CHAT_AGENT as agent
    from tests.temporal.support import engine_for

    engine = engine_for(tmp_path / "b.db")
    async with DevServer() as server:
        client = await server.client()
        worker = create_worker(
            client, [agent], task_queue="tty-q", deps={agent.name: lambda: engine}
        )
        async with worker:
            process = await asyncio.create_subprocess_exec(
                *CLI,
                "chat",
                "--agent",
                "tests.temporal.support:CHAT_AGENT",
                "--as",
                "alice",
                "--temporal-address",
                server.address,
                "--task-queue",
                "tty-q",
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(os.environ, COLUMNS="200"),
            )
            assert process.stdin is not None and process.stdout is not None
            assert process.stderr is not None
            seen: list[str] = []
            text = await _read_until(process.stdout, "conversation ", seen)
            (conversation,) = re.findall(r"conversation (\S+) —", text)
            process.stdin.write(b"book LX15 2400\n")
            await process.stdin.drain()
            await _read_until(process.stdout, "waiting for the approver", seen)
            agents = AgentClient(client, task_queue="tty-q")
            ((approval_id, status),) = await agents.pending_approvals(conversation)
            vote = ApprovalVote(
                digest=status.request.digest, approver="bob", approve=False, reason=REASON
            )
            await agents.decide(approval_id, vote)
            text = await _read_until(process.stdout, "Failed: ", seen)
            # Ctrl-C at the prompt: the chat leaves quietly.
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), timeout=30)
            errors = (await process.stderr.read()).decode()
    assert f"bob denied your request: {REASON}" in text  # told, and not eaten as markup
    assert f"Approval denied by bob: {REASON}" in text
    assert text.count("book LX15 2400") == 0  # the typed line is not echoed back
    assert process.returncode == 0, errors
    assert "Traceback" not in errors and "Warning" not in errors, errors
