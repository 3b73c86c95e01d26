"""The ``OTEL_*`` exporter settings, honoured or refused in one line; a flush that never hangs.

A one-shot command never waits long on a collector that is down.

``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` / ``OTEL_LOGS_EXPORTER``: ``otlp``,
``console`` or ``none`` (a comma-separated list); unset means OTLP when an OTLP endpoint variable
is set, else nothing. The logs are the trail's signed checkpoints, one log record each.
``OTEL_EXPORTER_OTLP_PROTOCOL`` (and its ``_TRACES_`` / ``_METRICS_`` / ``_LOGS_`` forms):
``http/protobuf``;
``grpc`` when ``opentelemetry-exporter-otlp-proto-grpc`` is installed. Anything else is a
[`ConfigurationError`][agentflow.ConfigurationError] naming the variable and what it may be.

OTLP exports run on a thread of their own (`BackgroundExporter`): a span handed over
returns at once, and shutting down waits at most `FLUSH_DEADLINE_S` for the collector,
then drops what it has not taken (and says so). The audit store never waits on it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

from agentflow.exceptions import ConfigurationError
from agentflow.extras import require

FLUSH_DEADLINE_S = 2.0
"""The longest a process waits at shutdown for the OTLP collector to take what is left."""

_ENDPOINTS = {
    "traces": ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    "metrics": ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    "logs": ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
}
_GRPC = "opentelemetry.exporter.otlp.proto.grpc"

log = logging.getLogger("agentflow.audit")


def exporter_names(signal: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """What ``OTEL_<SIGNAL>_EXPORTER`` asks for (``traces``, ``metrics`` or ``logs``), checked."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    variable = f"OTEL_{signal.upper()}_EXPORTER"
    raw = environ.get(variable, "").strip().lower()
    if not raw:
        return ["otlp"] if any(environ.get(v) for v in _ENDPOINTS[signal]) else []
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in ("otlp", "console", "none")]
    if unknown:
        raise ConfigurationError(
            f"{variable}={raw}: agentflow exports {signal} with otlp, console or none, "
            f"not {', '.join(unknown)}"
        )
    return [] if "none" in names else names


def protocol(signal: str, environ: Mapping[str, str] = os.environ) -> str:
    """``http/protobuf`` or ``grpc``, from the signal's protocol variable or the general one."""
    for variable in (
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ):
        value = environ.get(variable, "").strip().lower()
        if not value:
            continue
        if value == "http/protobuf":
            return value
        if value == "grpc":
            if importlib.util.find_spec(_GRPC) is None:
                raise ConfigurationError(
                    f"{variable}=grpc needs the opentelemetry-exporter-otlp-proto-grpc package: "
                    "install it, or use http/protobuf"
                )
            return value
        raise ConfigurationError(
            f"{variable}={value}: agentflow speaks OTLP as http/protobuf or grpc"
        )
    return "http/protobuf"


def span_exporters(
    otlp: bool | None, environ: Mapping[str, str] = os.environ
) -> list[SpanExporter]:
    """The span exporters the settings ask for (``otlp``: force OTLP on or off)."""
    names = exporter_names("traces", environ)
    if otlp is not None:
        names = [n for n in names if n != "otlp"] + (["otlp"] if otlp else [])
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "console":
            exporters.append(ConsoleSpanExporter(out=sys.stdout))  # the current one
        else:
            exporters.append(BackgroundExporter(_otlp_span_exporter(protocol("traces", environ))))
    return exporters


def metric_readers(
    otlp: bool | None, environ: Mapping[str, str] = os.environ
) -> list[MetricReader]:
    names = exporter_names("metrics", environ)
    if otlp is not None:
        names = [n for n in names if n != "otlp"] + (["otlp"] if otlp else [])
    readers: list[MetricReader] = []
    for name in names:
        if name == "console":
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stdout)))
        else:
            exporter = _otlp_metric_exporter(protocol("metrics", environ))
            readers.append(
                PeriodicExportingMetricReader(
                    exporter, export_timeout_millis=int(FLUSH_DEADLINE_S * 1000)
                )
            )
    return readers


def log_processors(
    otlp: bool | None, environ: Mapping[str, str] = os.environ
) -> list[LogRecordProcessor]:
    """The log record processors ``OTEL_LOGS_EXPORTER`` asks for (``otlp``: force OTLP on/off)."""
    names = exporter_names("logs", environ)
    if otlp is not None:
        names = [n for n in names if n != "otlp"] + (["otlp"] if otlp else [])
    processors: list[LogRecordProcessor] = []
    for name in names:
        if name == "console":
            processors.append(SimpleLogRecordProcessor(ConsoleLogRecordExporter(out=sys.stdout)))
        else:
            exporter = _otlp_log_exporter(protocol("logs", environ))
            processors.append(
                BatchLogRecordProcessor(
                    exporter, export_timeout_millis=int(FLUSH_DEADLINE_S * 1000)
                )
            )
    return processors


def _otlp_span_exporter(wire: str) -> SpanExporter:
    # Imported here: protobuf and an HTTP (or gRPC) stack that a store-only setup never needs.
    if wire == "grpc":
        module = importlib.import_module(f"{_GRPC}.trace_exporter")
        exporter: SpanExporter = module.OTLPSpanExporter()
        return exporter
    require("otlp", "exporting the audit trail over OTLP")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _otlp_metric_exporter(wire: str):
    if wire == "grpc":
        module = importlib.import_module(f"{_GRPC}.metric_exporter")
        return module.OTLPMetricExporter()
    require("otlp", "exporting the GenAI metrics over OTLP")
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter()


def _otlp_log_exporter(wire: str) -> LogRecordExporter:
    if wire == "grpc":
        module = importlib.import_module(f"{_GRPC}._log_exporter")
        exporter: LogRecordExporter = module.OTLPLogExporter()
        return exporter
    require("otlp", "exporting the audit trail's checkpoints over OTLP")
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter()


def bounded(*actions: Callable[[], object], seconds: float = FLUSH_DEADLINE_S) -> bool:
    """Run ``actions`` side by side on daemon threads for at most ``seconds`` in all.

    ``False`` if one of them did not end in time (it goes on, and the process does not wait).
    """
    threads = [
        threading.Thread(target=action, daemon=True, name="agentflow-flush") for action in actions
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


class BackgroundExporter(SpanExporter):
    """Hands spans to ``exporter`` on a thread of its own; shutdown waits a bounded time."""

    def __init__(self, exporter: SpanExporter, deadline_s: float = FLUSH_DEADLINE_S) -> None:
        self.exporter = exporter
        self.deadline_s = deadline_s
        self._queue: queue.Queue[Sequence[ReadableSpan] | threading.Event] = queue.Queue(
            maxsize=1024
        )
        self._thread = threading.Thread(target=self._run, daemon=True, name="agentflow-otlp")
        self._thread.start()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            self._queue.put_nowait(list(spans))
        except queue.Full:
            log.warning("the OTLP collector is not keeping up: %d span(s) dropped", len(spans))
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        deadline = min(timeout_millis / 1000, self.deadline_s)
        done = threading.Event()  # set once everything queued before it was handed over
        try:
            self._queue.put(done, timeout=deadline)
        except queue.Full:
            return False
        return done.wait(deadline)

    def shutdown(self) -> None:
        if not self.force_flush():
            log.warning(
                "the OTLP collector did not take the last spans within %.0f s: they are dropped",
                self.deadline_s,
            )
        bounded(self.exporter.shutdown, seconds=self.deadline_s)

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if isinstance(batch, threading.Event):
                batch.set()
                continue
            try:
                self.exporter.export(batch)
            except Exception:
                log.exception("the OTLP export failed")
