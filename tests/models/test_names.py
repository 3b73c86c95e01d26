"""Models chosen by "provider:model" strings, and the fallback to the next one on an outage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentflow import Agent, ConfigurationError, ModelHTTPError, ModelUnavailable
from agentflow.events import ModelRetrying
from agentflow.exceptions import ModelResponseError
from agentflow.messages import Message, ModelRequest, TextBlock
from agentflow.models.anthropic import AnthropicModel
from agentflow.models.fallback import FallbackModel, is_outage
from agentflow.models.names import infer_model, split_model_name
from agentflow.models.openai import OpenAIModel
from agentflow.models.retries import RetryPolicy, retry_listener
from agentflow.testing import ScriptedModel, TestModel
from agentflow.testing.anthropic_server import FakeAnthropicServer, error_response, message_response
from agentflow.testing.openai_server import FakeOpenAIServer, completion_response

NO_RETRY = RetryPolicy(max_retries=0)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    yield


def hello() -> ModelRequest:
    return ModelRequest(
        system="", messages=(Message(role="user", content=(TextBlock(text="hi"),)),)
    )


@pytest.mark.parametrize(
    ("spec", "split"),
    [
        ("anthropic:claude-sonnet-5", ("anthropic", "claude-sonnet-5")),
        ("openai:gpt-5", ("openai", "gpt-5")),
        ("claude-opus-5", ("anthropic", "claude-opus-5")),
        ("bedrock:anthropic.claude-sonnet-5-v1:0", ("bedrock", "anthropic.claude-sonnet-5-v1:0")),
        (" test ", ("test", "")),
    ],
)
def test_strings_name_a_provider_and_a_model(spec: str, split: tuple[str, str]) -> None:
    assert split_model_name(spec) == split


@pytest.mark.parametrize("spec", ["gpt-5", "mistral:large", "openai:", ":gpt-5", ""])
def test_a_string_without_a_known_provider_is_one_clear_error(spec: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        infer_model(spec)
    assert "\n" not in str(caught.value)


def test_each_provider_gets_its_adapter(keys: None) -> None:
    anthropic = infer_model("anthropic:claude-sonnet-5")
    openai = infer_model("openai:gpt-5")
    assert isinstance(anthropic, AnthropicModel) and anthropic.name == "claude-sonnet-5"
    assert isinstance(openai, OpenAIModel) and openai.name == "gpt-5"
    assert isinstance(infer_model("test"), TestModel)
    chain = infer_model("anthropic:claude-sonnet-5, openai:gpt-5")
    assert isinstance(chain, FallbackModel)
    assert chain.name == "claude-sonnet-5,gpt-5"


def test_an_agent_takes_a_model_string(keys: None) -> None:
    agent = Agent("openai:gpt-5")
    assert isinstance(agent.model, OpenAIModel)


def test_a_string_needs_its_providers_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        Agent("openai:gpt-5")


def test_outages_are_what_falls_back() -> None:
    assert is_outage(ModelUnavailable("down"))
    assert is_outage(ModelHTTPError(529, "overloaded"))
    assert is_outage(ModelHTTPError(429, "slow down"))
    assert not is_outage(ModelHTTPError(400, "bad request"))
    assert not is_outage(ModelHTTPError(401, "bad key"))
    assert not is_outage(ModelResponseError("garbage"))


async def test_the_next_provider_answers_when_the_first_is_out() -> None:
    with FakeAnthropicServer() as claude, FakeOpenAIServer() as gpt:
        claude.enqueue(error_response(529, "overloaded_error", "Overloaded"))
        gpt.enqueue(completion_response(content="from gpt"))
        model = FallbackModel(
            AnthropicModel(
                "claude-sonnet-5", api_key="k", base_url=claude.base_url, retry=NO_RETRY
            ),
            OpenAIModel("gpt-test", api_key="k", base_url=gpt.base_url, retry=NO_RETRY),
        )
        heard: list[ModelRetrying] = []
        with retry_listener(heard.append):
            response = await model.request(hello())
        assert response.text == "from gpt"
        assert len(claude.requests) == len(gpt.requests) == 1
        assert "claude-sonnet-5 failed" in heard[0].error and "asking gpt-test" in heard[0].error


async def test_a_refused_request_does_not_fall_back() -> None:
    with FakeAnthropicServer() as claude, FakeOpenAIServer() as gpt:
        claude.enqueue(error_response(400, "invalid_request_error", "bad"))
        model = FallbackModel(
            AnthropicModel(
                "claude-sonnet-5", api_key="k", base_url=claude.base_url, retry=NO_RETRY
            ),
            OpenAIModel("gpt-test", api_key="k", base_url=gpt.base_url, retry=NO_RETRY),
        )
        with pytest.raises(ModelHTTPError) as caught:
            await model.request(hello())
        assert caught.value.status_code == 400
        assert gpt.requests == []


async def test_when_every_model_is_out_each_failure_is_named() -> None:
    first = ScriptedModel([ModelUnavailable("first down")], name="one")
    second = ScriptedModel([ModelHTTPError(503, "second down")], name="two")
    with pytest.raises(ModelUnavailable) as caught:
        await FallbackModel(first, second).request(hello())
    assert "one: first down" in str(caught.value)
    assert "two: model API returned HTTP 503: second down" in str(caught.value)


async def test_an_outage_of_every_model_ends_the_run_with_model_error() -> None:
    model = FallbackModel(
        ScriptedModel([ModelUnavailable("a")], name="a"),
        ScriptedModel([ModelUnavailable("b")], name="b"),
    )
    result = await Agent(model).run("hi")
    assert result.status == "model_error"


async def test_anthropic_answers_are_streamed_to_a_listener() -> None:
    from agentflow.models.deltas import delta_listener

    with FakeAnthropicServer(
        message_response([{"type": "text", "text": "Hello there"}], model="claude-sonnet-5")
    ) as claude:
        model = AnthropicModel("claude-sonnet-5", api_key="k", base_url=claude.base_url)
        pieces: list[str] = []
        with delta_listener(pieces.append):
            response = await model.request(hello())
        await model.client.close()
    assert claude.requests[0].body["stream"] is True
    assert pieces == ["Hello", " there"]
    assert response.text == "Hello there"
