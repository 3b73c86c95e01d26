"""The GenAI client metrics: token usage and operation duration histograms, per model call.

``gen_ai.client.token.usage`` (``{token}``, one record per call and ``gen_ai.token.type``:
``input`` counts every input token, cached or not) and ``gen_ai.client.operation.duration``
(seconds), with the attributes the conventions ask (operation, provider, request and response
model, server address and port, ``error.type`` on failure) and their advised buckets. They go
through an OpenTelemetry ``MeterProvider`` (see
[`configure_tracing`][agentflow.audit.configure_tracing]), so any reader or exporter works: OTLP,
the console, a test's in-memory reader.
"""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider

from agentflow.audit import attributes as attrs
from agentflow.audit.attributes import Attributes
from agentflow.messages import ModelResponse

TOKEN_USAGE = "gen_ai.client.token.usage"
OPERATION_DURATION = "gen_ai.client.operation.duration"
TOKEN_TYPE = "gen_ai.token.type"

_TOKEN_BUCKETS = [4.0**n for n in range(14)]  # 1 ... 67,108,864, as the conventions advise
_DURATION_BUCKETS = [0.01 * 2**n for n in range(14)]  # 0.01 ... 81.92 s


class GenAIMetrics:
    """The two histograms, on ``meter_provider``'s ``agentflow`` meter."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter("agentflow")
        self.tokens = meter.create_histogram(
            TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )

    def chat(
        self,
        *,
        provider: str,
        model: str,
        server: Attributes,
        duration_s: float,
        response: ModelResponse | None = None,
        error_type: str | None = None,
    ) -> None:
        """One model call: its duration, and with a response its input and output tokens."""
        common: Attributes = {
            attrs.OPERATION: "chat",
            attrs.PROVIDER: provider,
            attrs.REQUEST_MODEL: model,
            **server,
        }
        if response is not None and response.model:
            common[attrs.RESPONSE_MODEL] = response.model
        if error_type is not None:
            common[attrs.ERROR_TYPE] = error_type
        self.duration.record(duration_s, common)
        if response is not None:
            usage = response.usage
            self.tokens.record(attrs.input_tokens(usage), {**common, TOKEN_TYPE: "input"})
            self.tokens.record(usage.output_tokens, {**common, TOKEN_TYPE: "output"})
