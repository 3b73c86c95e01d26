"""Models named by ``"provider:model"`` strings, wherever a model is chosen without code.

``anthropic:claude-sonnet-5``, ``openai:gpt-5`` (Chat Completions), ``openai-responses:gpt-5``
(the Responses API), ``bedrock:anthropic.claude-...``,
``vertex:claude-...``, and ``test`` (the offline [`TestModel`][agentflow.testing.TestModel]). A bare
name that starts with ``claude`` is an Anthropic model, as before strings had providers. Names
separated by commas are a `FallbackModel`, first choice first:
``anthropic:claude-sonnet-5,openai:gpt-5``.

Each provider's SDK is imported only when a model of it is made. Bedrock and Vertex go through
the ``anthropic`` SDK's own clients (``AsyncAnthropicBedrock``, ``AsyncAnthropicVertex``), which
need its ``bedrock`` or ``vertex`` extra and the cloud's usual credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentflow.exceptions import ConfigurationError
from agentflow.models.base import Model

if TYPE_CHECKING:
    from agentflow.models.anthropic import AnthropicClient

__all__ = ["PROVIDERS", "infer_model", "split_model_name"]

PROVIDERS = ("anthropic", "openai", "openai-responses", "bedrock", "vertex", "test")
MODEL_ENV = "AGENTFLOW_MODEL"
"""The environment variable the CLI and the demo read a model string from."""


def split_model_name(spec: str) -> tuple[str, str]:
    """``"openai:gpt-5"`` as ``("openai", "gpt-5")``; a bare ``claude...`` name is Anthropic's.

    Raises:
        ConfigurationError: The string names no known provider.
    """
    spec = spec.strip()
    if spec == "test":
        return "test", ""
    provider, sep, name = spec.partition(":")
    if not sep:
        if spec.startswith("claude"):
            return "anthropic", spec
        raise ConfigurationError(
            f"model {spec!r} names no provider: write provider:model, e.g. anthropic:{spec} or "
            f"openai:{spec} (providers: {', '.join(PROVIDERS)})"
        )
    if provider not in PROVIDERS or not name:
        raise ConfigurationError(
            f"model {spec!r}: unknown provider {provider!r} (providers: {', '.join(PROVIDERS)})"
        )
    return provider, name


def infer_model(model: Model | str) -> Model:
    """The model a string names (see the module docstring); a `Model` is returned as is.

    Raises:
        ConfigurationError: An unknown provider, a missing API key, a missing SDK extra.
    """
    if not isinstance(model, str):
        return model
    specs = [part for part in model.split(",") if part.strip()]
    if not specs:
        raise ConfigurationError("the model name is empty")
    if len(specs) > 1:
        from agentflow.models.fallback import FallbackModel

        return FallbackModel(*(_one(spec) for spec in specs))
    return _one(specs[0])


def _one(spec: str) -> Model:
    provider, name = split_model_name(spec)
    match provider:
        case "anthropic":
            from agentflow.models.anthropic import AnthropicModel

            return AnthropicModel(name)
        case "openai":
            from agentflow.models.openai import OpenAIModel

            return OpenAIModel(name)
        case "openai-responses":
            from agentflow.models.openai_responses import OpenAIResponsesModel

            return OpenAIResponsesModel(name)
        case "bedrock" | "vertex":
            from agentflow.models.anthropic import AnthropicModel

            return AnthropicModel(name, client=_cloud_client(provider))
        case _:
            from agentflow.testing.schema_model import TestModel

            return TestModel()


def _cloud_client(provider: str) -> AnthropicClient:
    try:
        if provider == "bedrock":
            from anthropic.lib.bedrock import AsyncAnthropicBedrock

            return AsyncAnthropicBedrock(max_retries=0)
        from anthropic.lib.vertex import AsyncAnthropicVertex

        return AsyncAnthropicVertex(max_retries=0)
    except ImportError as exc:
        raise ConfigurationError(
            f"{provider} models need the anthropic SDK's {provider} extra: "
            f"pip install 'anthropic[{provider}]' ({exc})"
        ) from None
