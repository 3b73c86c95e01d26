"""The trail as observability tools read it: the GenAI semantic conventions, and the standard
``OTEL_*`` exporter settings honoured or refused in one line, never blocking on a collector.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentflow import Agent, ConfigurationError, tool
from agentflow.audit import AuditHandler, configure_tracing
from agentflow.audit import attributes as attrs
from agentflow.messages import ModelRequest, ModelResponse, Usage
from agentflow.models.anthropic import AnthropicModel
from agentflow.models.openai import OpenAIModel
from agentflow.testing import FunctionModel, text_response, tool_call
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response

CACHED = Usage(
    input_tokens=12,
    output_tokens=40,
    cache_read_input_tokens=3_000,
    cache_creation_input_tokens=500,
)


@tool
def lookup(city: str) -> str:
    """Look a city up."""
    return f"{city}: sunny"


def answer(request: ModelRequest) -> ModelResponse:
    if len(request.messages) == 1:
        response = tool_call("lookup", city="Zurich", id="call-1")
    else:
        response = text_response("Sunny in Zurich.")
    return dataclasses.replace(response, usage=CACHED, id=f"msg_{len(request.messages)}")


async def run(tmp_path: Path, **options: Any) -> tuple[dict[str, dict[str, Any]], Any]:
    exported = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    tracing = configure_tracing(
        database_url=f"sqlite:///{tmp_path}/audit.db",
        exporters=[exported],
        metric_readers=[reader],
        otlp=False,
        **options,
    )
    model = FunctionModel(answer, name="weather-model")
    agent = Agent(
        model,
        tools=[lookup],
        system="You answer about the weather.",
        event_handlers=[AuditHandler(tracing, model=model, agent="weather")],
    )
    await agent.run("Weather in Zurich?", user="alice", conversation_id="conv-w")
    tracing.force_flush()
    metrics = reader.get_metrics_data()
    tracing.shutdown()
    spans = {s.name: dict(s.attributes or {}) for s in exported.get_finished_spans()}
    return spans, metrics


async def test_spans_follow_the_genai_conventions(tmp_path: Path) -> None:
    spans, _ = await run(tmp_path)
    chat = spans["chat weather-model"]
    # Every input token, cached or not: 12 + 3,000 read + 500 written.
    assert chat["gen_ai.usage.input_tokens"] == 3_512
    assert chat["gen_ai.usage.cache_read.input_tokens"] == 3_000
    assert chat["gen_ai.usage.cache_creation.input_tokens"] == 500
    assert chat["gen_ai.response.id"] == "msg_3"
    for name in ("invoke_agent weather", "chat weather-model", "execute_tool lookup"):
        assert spans[name]["gen_ai.provider.name"] == "weather-model", name
        assert spans[name]["gen_ai.system"] == "weather-model", name
    root = spans["invoke_agent weather"]
    assert root["gen_ai.usage.input_tokens"] == 2 * 3_512
    assert root["gen_ai.usage.output_tokens"] == 80
    assert "Sunny in Zurich." in root["gen_ai.output.messages"]
    assert root["session.id"] == "conv-w"
    # Instructions and tool definitions are opt-in content.
    assert "gen_ai.system_instructions" not in chat and "gen_ai.tool.definitions" not in chat


async def test_instructions_and_tool_definitions_when_asked(tmp_path: Path) -> None:
    spans, _ = await run(tmp_path, record_instructions=True)
    chat = spans["chat weather-model"]
    assert "You answer about the weather." in chat["gen_ai.system_instructions"]
    assert '"name": "lookup"' in chat["gen_ai.tool.definitions"]


async def test_the_genai_metrics_are_recorded(tmp_path: Path) -> None:
    _, data = await run(tmp_path)
    points: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points[metric.name] = list(metric.data.data_points)
    tokens = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert (tokens["input"].count, tokens["input"].sum) == (2, 2 * 3_512)
    assert (tokens["output"].count, tokens["output"].sum) == (2, 80)
    assert tokens["input"].attributes["gen_ai.provider.name"] == "weather-model"
    assert tokens["input"].attributes["gen_ai.operation.name"] == "chat"
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.count == 2


def test_the_server_an_anthropic_model_calls() -> None:
    model = AnthropicModel(api_key="k", base_url="http://127.0.0.1:8123")
    assert attrs.server(model) == {"server.address": "127.0.0.1", "server.port": 8123}
    assert attrs.server(AnthropicModel(api_key="k")) == {
        "server.address": "api.anthropic.com",
        "server.port": 443,
    }


async def test_an_openai_chat_span_carries_the_response_id(tmp_path: Path) -> None:
    """As Anthropic's: the completion's id, from the API's answer, on the ``chat`` span."""
    exported = InMemorySpanExporter()
    tracing = configure_tracing(
        database_url=f"sqlite:///{tmp_path}/audit.db", exporters=[exported], otlp=False
    )
    with FakeOpenAIServer() as server:
        server.enqueue(completion_response(content="Sunny.", id="chatcmpl-Zr7"))
        model = OpenAIModel("gpt-test", api_key="sk-test", base_url=server.base_url)
        agent = Agent(model, event_handlers=[AuditHandler(tracing, model=model)])
        await agent.run("Weather in Zurich?", user="alice")
        await model.client.close()
    tracing.shutdown()
    (chat,) = [
        dict(s.attributes or {}) for s in exported.get_finished_spans() if s.name.startswith("chat")
    ]
    assert chat["gen_ai.response.id"] == "chatcmpl-Zr7"
    assert chat["gen_ai.provider.name"] == "openai"
    assert chat["server.address"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "needs the opentelemetry-exporter-otlp-proto-grpc"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "as http/protobuf or grpc"),
        ("OTEL_TRACES_EXPORTER", "zipkin", "otlp, console or none, not zipkin"),
        ("OTEL_METRICS_EXPORTER", "prometheus", "otlp, console or none, not prometheus"),
        ("OTEL_LOGS_EXPORTER", "zipkin", "otlp, console or none, not zipkin"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json", "as http/protobuf or grpc"),
    ],
)
def test_exporter_settings_agentflow_cannot_honour_are_refused_in_one_line(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message) as refused:
        configure_tracing(database_url=f"sqlite:///{tmp_path}/audit.db")
    assert "\n" not in str(refused.value) and variable in str(refused.value)


async def test_the_console_exporter_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    tracing = configure_tracing(database_url=f"sqlite:///{tmp_path}/audit.db")
    with tracing.get_tracer("test").start_as_current_span("hello console"):
        pass
    tracing.shutdown()
    assert '"name": "hello console"' in capsys.readouterr().out


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A collector that accepts connections and never answers (a hung or overloaded one)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


async def test_a_collector_that_never_answers_does_not_hold_a_command(
    black_hole: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", black_hole)
    tracing = configure_tracing(database_url=f"sqlite:///{tmp_path}/audit.db")
    model = FunctionModel(answer, name="weather-model")
    agent = Agent(model, tools=[lookup], event_handlers=[AuditHandler(tracing, model=model)])
    await agent.run("Weather in Zurich?", user="alice")
    started = time.monotonic()
    tracing.shutdown()
    # The store has everything; the collector gets a bounded wait (2 s each for spans and
    # metrics), not its exporter's 10 s timeout and retries per batch.
    assert time.monotonic() - started < 6
    assert tracing.store is not None
    assert tracing.store.verify().records >= 4
