"""The one seam between the loop and a language model, and the switch that blocks real ones."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

from pydantic import ValidationError

from agentflow.exceptions import ConfigurationError, ModelResponseError
from agentflow.messages import ModelRequest, ModelResponse

ALLOW_MODEL_REQUESTS_ENV = "AGENTFLOW_ALLOW_MODEL_REQUESTS"
"""Set to ``0`` (in a test run's environment) to make every request to a real model fail."""

_blocked: ContextVar[bool] = ContextVar("agentflow_model_requests_blocked", default=False)


@runtime_checkable
class Model(Protocol):
    """Anything that turns a `ModelRequest` into a `ModelResponse`.

    Implementations raise [`agentflow.ModelError`][] (or a subclass) for failures they have
    already retried; the driver turns that into a clear message for the user.
    """

    @property
    def name(self) -> str: ...

    async def request(self, request: ModelRequest) -> ModelResponse: ...


@contextmanager
def block_model_requests() -> Generator[None]:
    """Within this block, a request to a real model raises `ConfigurationError`.

    For tests: a forgotten ``AnthropicModel`` fails at once instead of calling (and billing) the
    API. Test doubles ([`agentflow.testing`][]) are not affected. In a pytest suite, one
    autouse fixture does it for every test::

        @pytest.fixture(autouse=True)
        def _no_real_models():
            with block_model_requests():
                yield
    """
    token = _blocked.set(True)
    try:
        yield
    finally:
        _blocked.reset(token)


def api_key(adapter: str, variable: str, given: str | None) -> str:
    """The API key an adapter builds its client with: ``given``, else ``variable``'s value.

    Raises:
        ConfigurationError: neither is set, naming the variable and the argument.
    """
    key = given or os.environ.get(variable)
    if not key:
        raise ConfigurationError(
            f"{adapter} needs an API key: set the {variable} environment variable or pass "
            "api_key=..."
        )
    return key


def check_model_requests_allowed(model: str) -> None:
    """Raise `ConfigurationError` when real model requests are blocked (see above)."""
    if _blocked.get() or os.environ.get(ALLOW_MODEL_REQUESTS_ENV, "").strip().lower() in (
        "0",
        "false",
        "no",
    ):
        raise ConfigurationError(
            f"a request to the real model {model!r} was blocked: this run forbids real model "
            f"requests ({ALLOW_MODEL_REQUESTS_ENV}=0 or block_model_requests()); use a test "
            "model from agentflow.testing"
        )


def unreadable_response(err: ValidationError, where: str = "") -> ModelResponseError:
    """A provider's answer that failed our checks, each problem located (``content.0.id: ...``)."""
    problems: list[str] = []
    for problem in err.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in (where, *problem["loc"]) if part != "")
        problems.append(f"{location}: {problem['msg']}" if location else problem["msg"])
    return ModelResponseError("; ".join(problems))


def end_user_id(user: str) -> str:
    """The opaque id a provider is given for the end user ``user`` (a SHA-256 digest, in hex).

    Providers use it to tell abusive users apart and ask that it identify no one (Anthropic's
    ``metadata.user_id``, OpenAI's ``safety_identifier``); the same user always gets the same
    id, so the operator can still find them by digesting the ids they know.
    """
    return hashlib.sha256(user.encode()).hexdigest()
