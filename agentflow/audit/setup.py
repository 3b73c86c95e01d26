"""``configure_tracing``: one call that sets up the audit trail, returned as a tracer provider.

Nothing here is global: the provider is returned, not installed as OpenTelemetry's global
provider, and is handed explicitly to what records spans (``AuditHandler`` in-process;
``create_worker`` / ``AgentClient`` / ``AuditInterceptor`` on Temporal). An application that
has its own global provider keeps it; one that wants agentflow's as the global one can call
``opentelemetry.trace.set_tracer_provider`` itself.

The audit trail is not a sampled export. The provider records every span of every
conversation, whole, whatever ``OTEL_TRACES_SAMPLER``, the span limits
(``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, ``OTEL_SPAN_EVENT_COUNT_LIMIT``, ...), the batch
processor's variables (``OTEL_BSP_*``) or ``OTEL_SDK_DISABLED`` say; those govern only the OTLP
export (`SampledExporter`), which ``OTEL_SDK_DISABLED`` turns
off.

`audit_database_url` is the one rule for where the store is: ``configure_tracing``,
``agentflow trace``, ``agentflow audit verify`` and the demo all find it through it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from agentflow.audit.attributes import Content
from agentflow.audit.checkpoints import (
    CHECKPOINT_FILE_ENV,
    CHECKPOINT_LOGGER,
    DEFAULT_EVERY,
    Checkpointer,
    SigningKey,
)
from agentflow.audit.export import bounded, span_exporters
from agentflow.audit.export import log_processors as export_log_processors
from agentflow.audit.export import metric_readers as export_metric_readers
from agentflow.audit.exporter import AuditSpanExporter, RedactingExporter, SampledExporter
from agentflow.audit.intents import StoreIntents
from agentflow.audit.metrics import GenAIMetrics
from agentflow.audit.recorder import TRACER_NAME
from agentflow.audit.redaction import Redact, Redactor
from agentflow.audit.store import AuditStore
from agentflow.datadir import application_database_url, audit_database_default
from agentflow.intent import ReadOnlyPolicy

DEFAULT_DATABASE_URL = "sqlite:///.agentflow/audit.db"
"""Where the audit trail goes when neither ``database_url`` nor ``DATABASE_URL`` says, in the
default data folder (``AGENTFLOW_DATA_DIR`` moves it: see `agentflow.datadir`)."""

_UNLIMITED = SpanLimits(
    max_attributes=SpanLimits.UNSET,
    max_events=SpanLimits.UNSET,
    max_links=SpanLimits.UNSET,
    max_span_attributes=SpanLimits.UNSET,
    max_event_attributes=SpanLimits.UNSET,
    max_link_attributes=SpanLimits.UNSET,
    max_attribute_length=SpanLimits.UNSET,
    max_span_attribute_length=SpanLimits.UNSET,
)


def audit_database_url(
    database_url: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """Where the audit store is: the one rule every command, worker and script follows.

    ``database_url`` when given; else ``DATABASE_URL``, unless that names the application's
    default SQLite file (``agentflow.db`` in the data folder), next to which the trail has a
    file of its own (``audit.db``); else that file. An empty variable counts as unset.
    ``ApprovalSettings.audit_database_url`` gives the same answer.
    """
    if database_url:
        return database_url
    configured = (os.environ if environ is None else environ).get("DATABASE_URL") or None
    if configured is None or configured == application_database_url(environ):
        return audit_database_default(environ)
    return configured


class AuditTracerProvider(TracerProvider):
    """An OpenTelemetry SDK ``TracerProvider`` that also carries the trail's content policy.

    Use it wherever a ``TracerProvider`` goes; agentflow's recorders read `content` from
    it (see [`recorder_for`][agentflow.audit.recorder_for]), so the redactor and the content
    switch given to [`configure_tracing`][agentflow.audit.configure_tracing] apply to every span
    agentflow records through it.
    """

    def __init__(
        self,
        *,
        content: Content,
        store: AuditStore | None,
        resource: Resource,
        read_only: ReadOnlyPolicy = "refuse",
    ) -> None:
        # Every span, whole: the OTEL_* sampler and limits are for the OTLP export only.
        super().__init__(resource=resource, sampler=sampling.ALWAYS_ON, span_limits=_UNLIMITED)
        # OTEL_SDK_DISABLED would make every tracer a no-op, and the trail empty.
        self._disabled = False
        self.content = content
        self.store = store
        """The audit store the provider exports to (``None`` if built without one)."""
        self.intents = (
            StoreIntents(self.get_tracer(TRACER_NAME), store, content, read_only=read_only)
            if store is not None
            else None
        )
        """Writes each call's intent into `store` before the call runs (audit before act)."""
        self.meter_provider: MeterProvider | None = None
        self.metrics: GenAIMetrics | None = None
        """The GenAI metrics agentflow's recorders record model calls into (with a meter
        provider: [`configure_tracing`][agentflow.audit.configure_tracing] attaches one)."""

        self._shut_down = False
        self.logger_provider: LoggerProvider | None = None
        """Where the store's checkpoints go as log records (``OTEL_LOGS_EXPORTER``)."""

    def attach_metrics(self, meter_provider: MeterProvider) -> None:
        self.meter_provider = meter_provider
        self.metrics = GenAIMetrics(meter_provider)

    def attach_logs(self, logger_provider: LoggerProvider) -> None:
        """Emit the store's checkpoints as log records through ``logger_provider``."""
        self.logger_provider = logger_provider
        if self.store is not None:
            self.store.checkpointer.export_to(logger_provider.get_logger(CHECKPOINT_LOGGER))

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        flushed = super().force_flush(timeout_millis)
        bounded(*(lambda p=p: p.force_flush(timeout_millis) for p in self._others()))
        return flushed

    def shutdown(self) -> None:
        # Once: the SDK calls it again at exit, and the meter and logger providers would warn.
        if self._shut_down:
            return
        self._shut_down = True
        # The store's exporter writes a last checkpoint as it shuts down: logs go after it.
        super().shutdown()
        # A final export of the metrics and the checkpoints, side by side and bounded: a
        # collector that is down waits no one.
        bounded(*(p.shutdown for p in self._others()))

    def _others(self) -> list[MeterProvider | LoggerProvider]:
        return [p for p in (self.meter_provider, self.logger_provider) if p is not None]


def configure_tracing(
    *,
    database_url: str | None = None,
    store: AuditStore | None = None,
    redactor: Redact | None = None,
    record_content: bool = True,
    exporters: Sequence[SpanExporter] = (),
    otlp: bool | None = None,
    service_name: str = "agentflow",
    batch: bool = True,
    read_only: ReadOnlyPolicy = "refuse",
    checkpoint_key: SigningKey | None = None,
    checkpoint_every: int = DEFAULT_EVERY,
    checkpoint_file: str | Path | None = None,
    metric_readers: Sequence[MetricReader] = (),
    log_processors: Sequence[LogRecordProcessor] = (),
    record_instructions: bool = False,
) -> AuditTracerProvider:
    """Build the tracer provider of the audit trail: audit store, optional OTLP, redaction.

    Args:
        database_url: the audit store's database (SQLAlchemy URL). Defaults to the
            ``DATABASE_URL`` environment variable, then
            [`DEFAULT_DATABASE_URL`][agentflow.audit.DEFAULT_DATABASE_URL] (see
            `audit_database_url`).
        store: an [`AuditStore`][agentflow.audit.AuditStore] to use instead of opening
            ``database_url``.
        redactor: masks personal data in recorded content; [`Redactor`][agentflow.audit.Redactor] by
            default.
        record_content: ``False`` leaves message texts, tool arguments and results out of the
            trail entirely (steps, tokens, decisions and reasons are still recorded).
        exporters: more span exporters (a test's in-memory exporter, a vendor's); they get the
            same redacted spans as the store: all of them, whole.
        otlp: export spans and the GenAI metrics over OTLP too (``False``: never). By
            default as ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` say (``otlp``,
            ``console``, ``none``), else when an OTLP endpoint variable is set and
            ``OTEL_SDK_DISABLED`` is not ``true``. The exporters honour the standard
            ``OTEL_EXPORTER_OTLP_*`` variables (protocol ``http/protobuf`` or ``grpc``,
            headers, timeout, compression), ``OTEL_TRACES_SAMPLER`` (whole traces), the span
            limits and ``OTEL_BSP_*``; a setting agentflow cannot honour is refused in one line
            (`agentflow.audit.export`). Shutting down waits at most two seconds for the
            collector. None of these changes what the audit store records.
        metric_readers: more readers of the GenAI metrics (``gen_ai.client.token.usage``,
            ``gen_ai.client.operation.duration``): a test's in-memory reader, a vendor's.
        log_processors: more processors of the checkpoints' log records (an in-memory
            exporter's, a vendor's); ``OTEL_LOGS_EXPORTER`` (``otlp``, ``console``, ``none``)
            adds its own as for spans, and ``otlp`` forces OTLP logs on or off with the rest.
        record_instructions: record each model call's system instructions and tool
            definitions too (opt-in, as the conventions advise: the same text on every call).
        service_name: ``service.name`` of the resource, unless ``OTEL_SERVICE_NAME`` or
            ``OTEL_RESOURCE_ATTRIBUTES`` names one.
        batch: export in a background thread (``BatchSpanProcessor``); ``False`` exports each
            span as it ends, for short scripts.
        read_only: a tool call's intent is written to the store before its body runs, and the
            call is refused if it cannot be (`agentflow.intent`). ``"continue"`` lets a
            read-only call (a tool without ``side_effects``) run anyway, with a logged warning;
            a side-effecting call is always refused.
        checkpoint_key: signs the store's checkpoints (see `agentflow.audit.checkpoints`);
            by default the key ``AGENTFLOW_AUDIT_SIGNING_KEY`` names, else unsigned.
        checkpoint_every: records between two checkpoints (one is also written at shutdown).
        checkpoint_file: a file each checkpoint is appended to as a JSON line; by default
            ``AGENTFLOW_AUDIT_CHECKPOINT_FILE``. Checkpoints are also emitted as OpenTelemetry
            log records (event ``agentflow.audit.checkpoint``; over OTLP as
            ``OTEL_LOGS_EXPORTER`` says) and logged on the ``agentflow.audit.checkpoints``
            logger.

    Call `shutdown` (or ``force_flush``) before
    the process exits so that the last spans are written.
    """
    redact = redactor or Redactor()
    if store is None:
        checkpointer = Checkpointer(
            key=checkpoint_key or SigningKey.from_env(),
            every=checkpoint_every,
            file=checkpoint_file or os.environ.get(CHECKPOINT_FILE_ENV) or None,
        )
        store = AuditStore(audit_database_url(database_url), checkpointer=checkpointer)
    provider = AuditTracerProvider(
        content=Content(redact=redact, record=record_content, instructions=record_instructions),
        store=store,
        resource=_resource(service_name),
        read_only=read_only,
    )
    store_processor = _processor(RedactingExporter(AuditSpanExporter(store), redact), batch, True)
    provider.add_span_processor(store_processor)
    for exporter in exporters:
        provider.add_span_processor(_processor(RedactingExporter(exporter, redact), batch, True))
    # OTEL_TRACES_EXPORTER & co. (otlp, console): sampled, limited, and never blocking.
    outgoing = span_exporters(otlp)
    if outgoing:
        # The SDK's own reading of OTEL_TRACES_SAMPLER (custom samplers included), which it
        # keeps private; applied to these exports alone.
        sampler = sampling._get_from_env_or_default()  # pyright: ignore[reportPrivateUsage]
        for exporter in outgoing:
            sampled = SampledExporter(exporter, sampler, SpanLimits())
            provider.add_span_processor(
                _processor(RedactingExporter(sampled, redact), batch, False)
            )
    readers = [*metric_readers, *export_metric_readers(otlp)]
    # The tracer provider shuts the meter and logger providers down (at exit too).
    provider.attach_metrics(
        MeterProvider(metric_readers=readers, resource=provider.resource, shutdown_on_exit=False)
    )
    # OTEL_LOGS_EXPORTER & co.: the checkpoints, one log record each.
    processors = [*log_processors, *export_log_processors(otlp)]
    if processors:
        logs = LoggerProvider(resource=provider.resource, shutdown_on_exit=False)
        for processor in processors:
            logs.add_log_record_processor(processor)
        provider.attach_logs(logs)
    return provider


def _resource(service_name: str) -> Resource:
    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win; ``service_name`` replaces only the
    # SDK's placeholder.
    detected = Resource.create()
    if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
        detected = detected.merge(Resource({"service.name": service_name}))
    return detected


def _processor(exporter: SpanExporter, batch: bool, whole: bool) -> SpanProcessor:
    """``whole``: the trail's own settings, never the ``OTEL_BSP_*`` variables."""
    if not batch:
        return SimpleSpanProcessor(exporter)
    if not whole:
        return BatchSpanProcessor(exporter)
    # Stated in full, so that no OTEL_BSP_* variable shrinks the queue (a full queue drops
    # spans) or the export timeout.
    return BatchSpanProcessor(
        exporter,
        max_queue_size=65_536,
        schedule_delay_millis=5_000,
        max_export_batch_size=512,
        export_timeout_millis=30_000,
    )
