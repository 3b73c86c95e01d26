"""With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, the trail also goes out over OTLP/HTTP, redacted.

The receiver is a tiny HTTP server that decodes the protobuf payload the way a collector does.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from agentflow import ApprovalDecision, ApprovalRequest
from agentflow.audit import AuditHandler, AuditStore, configure_tracing
from agentflow.audit.checkpoints import Checkpoint, SigningKey, VerifyKeys
from tests.audit.support import CARD, MESSAGE, Bookings, travel_agent, travel_model


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.requests: list[ExportTraceServiceRequest] = []
        self.metric_requests: list[ExportMetricsServiceRequest] = []
        self.log_requests: list[ExportLogsServiceRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.paths.append(self.path)
                if self.path == "/v1/metrics":
                    receiver.metric_requests.append(ExportMetricsServiceRequest.FromString(body))
                    answer = ExportMetricsServiceResponse().SerializeToString()
                elif self.path == "/v1/logs":
                    receiver.log_requests.append(ExportLogsServiceRequest.FromString(body))
                    answer = ExportLogsServiceResponse().SerializeToString()
                else:
                    receiver.bodies.append(body)
                    receiver.requests.append(ExportTraceServiceRequest.FromString(body))
                    answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def spans(self) -> dict[str, dict[str, Any]]:
        """Every received span's attributes, by span name (the last one wins)."""
        found: dict[str, dict[str, Any]] = {}
        for request in self.requests:
            for resource_spans in request.resource_spans:
                service = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {a.key: _value(a.value) for a in span.attributes}
                        found[span.name] = attributes | {"service.name": service["service.name"]}
        return found

    def logs(self) -> list[tuple[str, dict[str, Any]]]:
        """Every received log record's event name and attributes, in the order received."""
        return [
            (record.event_name, {a.key: _value(a.value) for a in record.attributes})
            for request in self.log_requests
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        ]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


async def approve(request: ApprovalRequest) -> ApprovalDecision:
    return request.decide("approved", approver="bob")


async def test_spans_reach_an_otlp_receiver_redacted(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "travel-desk")
    url = f"sqlite:///{tmp_path_factory.mktemp('audit')}/audit.db"
    tracing = configure_tracing(database_url=url)  # OTLP because the variable is set
    model = travel_model()
    agent = travel_agent("travel", model=model, event_handlers=[AuditHandler(tracing, model=model)])
    result = await agent.run(MESSAGE, deps=Bookings(), user="alice", approvals=approve)
    tracing.shutdown()  # flushes the batch

    assert set(receiver.paths) == {"/v1/traces", "/v1/metrics", "/v1/logs"}
    metrics = {
        metric.name
        for request in receiver.metric_requests
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert metrics == {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"}
    spans = receiver.spans()
    assert spans["invoke_agent agent"]["gen_ai.conversation.id"] == result.conversation_id
    chat = spans["chat travel-planner"]
    assert (chat["gen_ai.operation.name"], chat["gen_ai.provider.name"]) == (
        "chat",
        "travel-planner",
    )
    assert chat["gen_ai.usage.input_tokens"] == 220  # 120 uncached + 100 read from the cache
    assert chat["gen_ai.response.finish_reasons"] == ["end_turn"]
    booking = spans["execute_tool book_flight"]
    assert booking["gen_ai.tool.call.id"] == "call-book"
    assert "[CARD ****1111]" in booking["gen_ai.tool.call.arguments"]
    assert spans["approval decided"]["agentflow.approval.approver"] == "bob"
    assert chat["service.name"] == "travel-desk"
    payload = b"".join(receiver.bodies)
    for secret in (CARD, CARD.replace(" ", ""), "alice@example.com"):
        assert secret.encode() not in payload


OTEL_SETTINGS = {
    "sampler always_off": {"OTEL_TRACES_SAMPLER": "always_off"},
    "sampler parentbased_always_off": {"OTEL_TRACES_SAMPLER": "parentbased_always_off"},
    "sampler traceidratio 0.3": {
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.3",
    },
    "SDK disabled": {"OTEL_SDK_DISABLED": "true"},
    "limits": {
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "16",
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "4",
        "OTEL_SPAN_EVENT_COUNT_LIMIT": "0",
    },
    "batch queue of one": {
        "OTEL_BSP_MAX_QUEUE_SIZE": "1",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
    },
}


@pytest.mark.parametrize("setting", OTEL_SETTINGS)
async def test_the_store_records_every_span_whatever_the_otel_variables_say(
    setting: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The OTEL_* sampler, limits and SDK switch govern the OTLP export, never the trail."""
    for name, value in OTEL_SETTINGS[setting].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    url = f"sqlite:///{tmp_path_factory.mktemp('audit')}/audit.db"
    tracing = configure_tracing(database_url=url)
    model = travel_model()
    agent = travel_agent("travel", model=model, event_handlers=[AuditHandler(tracing, model=model)])
    conversations = [
        (await agent.run(MESSAGE, deps=Bookings(), user="alice", approvals=approve)).conversation_id
        for _ in range(10)
    ]
    tracing.shutdown()

    store = AuditStore.existing(url)
    traces: dict[str, int] = {}
    for conversation in conversations:
        records = store.conversation(conversation)
        assert len(records) == 14, (conversation, len(records))  # every span of every one
        (trace_id,) = {r.record.trace_id for r in records}
        traces[trace_id] = len(records)
        (search,) = [r.record for r in records if r.record.name == "execute_tool search_flights"]
        assert search.attributes["gen_ai.tool.call.result"] == (
            '[{"destination": "Zurich", "flight_id": "LX14", "price": 2400.0}]'
        )  # whole, whatever the length limit
        decisions = [r.record for r in records if r.record.name == "precondition book_flight"]
        assert [len(d.events) for d in decisions] == [2, 2]  # a rule event per rule, each time
    assert store.verify().ok
    store.dispose()

    exported: dict[str, list[dict[str, Any]]] = {}
    for request in receiver.requests:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    exported.setdefault(span.trace_id.hex(), []).append(attributes)
    if setting in ("sampler always_off", "sampler parentbased_always_off", "SDK disabled"):
        assert exported == {}
    elif setting == "sampler traceidratio 0.3":
        ratio = TraceIdRatioBased(0.3)
        sampled = {
            t for t in traces if ratio.should_sample(None, int(t, 16), "x").decision.is_sampled()
        }
        assert set(exported) == sampled  # the same traces a collector would have sampled...
        assert all(len(exported[t]) == 14 for t in sampled)  # ...and each of them whole
    elif setting == "limits":
        spans = [span for trace in exported.values() for span in trace]
        assert len(spans) == 140
        assert all(len(attributes) <= 4 for attributes in spans)
        assert all(len(v) <= 16 for a in spans for v in a.values() if isinstance(v, str))


async def test_checkpoints_reach_an_otlp_receiver_as_log_records(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each signed checkpoint is an OTLP log record: a copy no database user can reach."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    key = SigningKey.generate()
    url = f"sqlite:///{tmp_path}/audit.db"
    tracing = configure_tracing(
        database_url=url, checkpoint_key=key, checkpoint_every=5, batch=False
    )
    model = travel_model()
    agent = travel_agent("travel", model=model, event_handlers=[AuditHandler(tracing, model=model)])
    await agent.run(MESSAGE, deps=Bookings(), user="alice", approvals=approve)
    tracing.shutdown()

    store = AuditStore.existing(url)
    stored = store.checkpoints()
    store.dispose()
    assert len(stored) >= 2  # every 5 records, and one at shutdown
    logs = receiver.logs()
    assert {name for name, _ in logs} == {"agentflow.audit.checkpoint"}
    received = [
        Checkpoint(
            seq=a["agentflow.audit.checkpoint.seq"],
            head=a["agentflow.audit.checkpoint.head"],
            at_ns=a["agentflow.audit.checkpoint.at_ns"],
            key_id=a["agentflow.audit.checkpoint.key_id"],
            algorithm=a["agentflow.audit.checkpoint.algorithm"],
            signature=a["agentflow.audit.checkpoint.signature"],
        )
        for _, a in logs
    ]
    assert received == stored
    keys = VerifyKeys.of(key)
    assert all(keys.problem(c) is None for c in received)  # signed, and the signature holds


@pytest.mark.parametrize(("setting", "sent"), [("none", False), ("otlp", True)])
async def test_otel_logs_exporter_is_honoured(
    setting: str, sent: bool, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", setting)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    tracing = configure_tracing(database_url=f"sqlite:///{tmp_path}/audit.db", batch=False)
    with tracing.get_tracer("test").start_as_current_span("one record"):
        pass
    tracing.shutdown()  # writes a checkpoint
    assert (receiver.paths == ["/v1/logs"]) is sent
    assert (len(receiver.logs()) == 1) is sent
