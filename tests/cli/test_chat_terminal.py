"""``agentflow chat`` in a terminal: the decision is told when it comes, text is never markup,
and Ctrl-C leaves without a traceback or a warning."""

from __future__ import annotations

import asyncio
import codecs
import os
import re
import signal
import sys
from pathlib import Path

from agentflow.temporal import AgentClient, ApprovalVote, DevServer, create_worker

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "agentflow.cli"]
REASON = "too dear [bold]for now[/]"


class Output:
    """What the chat has printed so far, read as it comes: a prompt ends without a newline."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream
        self.text = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")()

    async def until(self, marker: str, start: int = 0) -> int:
        """Read until ``marker`` is printed at or after ``start``; where it ends."""
        while (at := self.text.find(marker, start)) < 0:
            chunk = await asyncio.wait_for(self.stream.read(4096), timeout=60)
            if not chunk:
                raise AssertionError(f"{marker!r} never came; output: {self.text}")
            self.text += self.decoder.decode(chunk)
        return at + len(marker)


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
            # Read stderr all along: a pipe nobody reads fills up and blocks the chat.
            errors = asyncio.create_task(process.stderr.read())
            out = Output(process.stdout)
            await out.until("— empty line or Ctrl-D to leave")
            (conversation,) = re.findall(r"conversation (\S+) —", out.text)
            process.stdin.write(b"book LX15 2400\n")
            await process.stdin.drain()
            await out.until("waiting for the approver")
            agents = AgentClient(client, task_queue="tty-q")
            ((approval_id, status),) = await agents.pending_approvals(conversation)
            vote = ApprovalVote(
                digest=status.request.digest, approver="bob", approve=False, reason=REASON
            )
            await agents.decide(approval_id, vote)
            failed = await out.until("Failed: ")
            # Ctrl-C at the prompt the chat shows again after the reply: it leaves quietly.
            await out.until("alice> ", failed)
            text = out.text
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.stdout.read(), timeout=30)  # to its end: it exits
            await asyncio.wait_for(process.wait(), timeout=30)
            stderr = (await asyncio.wait_for(errors, timeout=30)).decode()
    assert f"bob denied your request: {REASON}" in text  # told, and not eaten as markup
    assert f"Approval denied by bob: {REASON}" in text
    assert text.count("book LX15 2400") == 0  # the typed line is not echoed back
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
