"""Sampling settings and the end user on a request: from the agent to each API, and the trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentflow import Agent, ConfigurationError
from agentflow.audit import AuditHandler, configure_tracing
from agentflow.messages import ModelRequest, ModelResponse, ModelSettings
from agentflow.models.anthropic import AnthropicModel
from agentflow.models.openai import OpenAIModel
from agentflow.models.retries import RetryPolicy
from agentflow.testing import FunctionModel, text_response
from agentflow.testing.anthropic_server import FakeAnthropicServer, message_response
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response

NO_RETRY = RetryPolicy(max_retries=0)
ALICE = hashlib.sha256(b"alice@example.com").hexdigest()


@pytest.fixture
def claude() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def gpt() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


async def test_claude_gets_the_stop_sequences_and_an_opaque_end_user(
    claude: FakeAnthropicServer,
) -> None:
    claude.enqueue(
        message_response([{"type": "text", "text": "Rome"}], stop_reason="stop_sequence")
    )
    model = AnthropicModel("claude-sonnet-5", api_key="k", base_url=claude.base_url, retry=NO_RETRY)
    agent = Agent(model, settings=ModelSettings(stop_sequences=("\nEND",)))
    result = await agent.run("Where?", user="alice@example.com")
    await model.client.close()
    assert result.text == "Rome"
    [sent] = claude.requests
    assert sent.body["stop_sequences"] == ["\nEND"]
    assert sent.body["metadata"] == {"user_id": ALICE}
    # The provider is told who the user is, never their name or address.
    assert "alice" not in json.dumps(sent.body)
    assert "temperature" not in sent.body and "top_p" not in sent.body


async def test_claude_refuses_sampling_parameters_before_any_request(
    claude: FakeAnthropicServer,
) -> None:
    model = AnthropicModel("claude-sonnet-5", api_key="k", base_url=claude.base_url, retry=NO_RETRY)
    agent = Agent(model, settings=ModelSettings(temperature=0.2))
    with pytest.raises(ConfigurationError, match="takes no temperature or top_p"):
        await agent.run("Where?")
    await model.client.close()
    assert claude.requests == []


async def test_openai_gets_every_setting_and_a_safety_identifier(gpt: FakeOpenAIServer) -> None:
    gpt.enqueue(completion_response(content="Rome"))
    model = OpenAIModel("gpt-5", api_key="k", base_url=gpt.base_url, retry=NO_RETRY)
    settings = ModelSettings(temperature=0.2, top_p=0.9, stop_sequences=("END", "STOP"))
    await Agent(model, settings=settings).run("Where?", user="alice@example.com")
    await model.client.close()
    [sent] = gpt.requests
    body = sent.body
    assert (body["temperature"], body["top_p"], body["stop"]) == (0.2, 0.9, ["END", "STOP"])
    assert body["safety_identifier"] == ALICE
    assert "user" not in body  # deprecated for this
    assert "alice" not in json.dumps(body)


async def test_openai_refuses_a_fifth_stop_sequence(gpt: FakeOpenAIServer) -> None:
    model = OpenAIModel("gpt-5", api_key="k", base_url=gpt.base_url, retry=NO_RETRY)
    agent = Agent(model, settings=ModelSettings(stop_sequences=("a", "b", "c", "d", "e")))
    with pytest.raises(ConfigurationError, match="at most 4 stop sequences"):
        await agent.run("Where?")
    await model.client.close()
    assert gpt.requests == []


async def test_no_settings_and_no_user_send_nothing_new(
    claude: FakeAnthropicServer, gpt: FakeOpenAIServer
) -> None:
    claude.enqueue(message_response([{"type": "text", "text": "ok"}]))
    gpt.enqueue(completion_response(content="ok"))
    anthropic = AnthropicModel("claude-sonnet-5", api_key="k", base_url=claude.base_url)
    openai = OpenAIModel("gpt-5", api_key="k", base_url=gpt.base_url)
    await Agent(anthropic).run("hi")
    await Agent(openai).run("hi")
    await anthropic.client.close()
    await openai.client.close()
    assert not {"metadata", "stop_sequences"} & claude.requests[0].body.keys()
    assert (
        not {"temperature", "top_p", "stop", "safety_identifier", "user"}
        & gpt.requests[0].body.keys()
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"temperature": 2.5}, "temperature must be between 0 and 2"),
        ({"temperature": float("nan")}, "temperature must be between 0 and 2"),
        ({"top_p": -0.1}, "top_p must be between 0 and 1"),
        ({"stop_sequences": ("",)}, "must not be empty"),
    ],
)
def test_settings_no_provider_accepts_are_refused_when_made(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ModelSettings(**settings)


async def test_the_trail_records_the_settings_and_who_the_call_was_for(tmp_path: Path) -> None:
    exported = InMemorySpanExporter()
    tracing = configure_tracing(
        database_url=f"sqlite:///{tmp_path}/audit.db", exporters=[exported], otlp=False
    )
    seen: list[ModelRequest] = []

    def answer(request: ModelRequest) -> ModelResponse:
        seen.append(request)
        return text_response("ok")

    model = FunctionModel(answer, name="m")
    agent = Agent(
        model,
        settings=ModelSettings(temperature=0.3, top_p=0.8, stop_sequences=("END",)),
        event_handlers=[AuditHandler(tracing, model=model, agent="a")],
    )
    await agent.run("hi", user="alice")
    tracing.force_flush()
    tracing.shutdown()
    [chat] = [dict(s.attributes or {}) for s in exported.get_finished_spans() if s.name == "chat m"]
    assert chat["gen_ai.request.temperature"] == 0.3
    assert chat["gen_ai.request.top_p"] == 0.8
    assert chat["gen_ai.request.stop_sequences"] == ("END",)
    assert chat["enduser.id"] == "alice"
    assert seen[0].settings.temperature == 0.3 and seen[0].user == "alice"
