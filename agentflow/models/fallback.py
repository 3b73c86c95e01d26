"""``FallbackModel``: the next model answers when one is out (overloaded, down, rate-limited)."""

from __future__ import annotations

from collections.abc import Callable

from agentflow.exceptions import ModelError, ModelHTTPError, ModelUnavailable
from agentflow.messages import ModelRequest, ModelResponse
from agentflow.models.base import Model
from agentflow.models.retries import report_retry

__all__ = ["FallbackModel", "is_outage"]


def is_outage(error: ModelError) -> bool:
    """Whether ``error`` says the model is out, rather than that the request is wrong.

    Out: no answer at all, or an HTTP status that may pass (408, 409, 429, 5xx). A request the
    provider refuses (400, 401, 403, 404) would be as wrong for the next model, or hides a
    configuration mistake that should be seen; an unreadable answer is not an outage either.
    """
    if isinstance(error, ModelUnavailable):
        return True
    if isinstance(error, ModelHTTPError):
        return error.status_code in (408, 409, 429) or error.status_code >= 500
    return False


class FallbackModel:
    """Asks each model in turn until one answers; each has already retried on its own.

    Args:
        models: The models, first choice first (any [`Model`][agentflow.Model], e.g.
            an ``AnthropicModel`` and an ``OpenAIModel``).
        fallback_on: Which failures move on to the next model; `is_outage` by default.
            Any other failure is raised at once.

    Each move to the next model is reported like a retry (a
    `ModelRetrying` event with no wait), so a user sees it. When every
    model is out, [`ModelUnavailable`][agentflow.ModelUnavailable] names each one's failure.
    """

    def __init__(
        self, *models: Model, fallback_on: Callable[[ModelError], bool] = is_outage
    ) -> None:
        if not models:
            raise ValueError("FallbackModel needs at least one model")
        self.models = models
        self._fallback_on = fallback_on

    @property
    def name(self) -> str:
        return ",".join(m.name for m in self.models)

    async def request(self, request: ModelRequest) -> ModelResponse:
        failures: list[str] = []
        for index, model in enumerate(self.models):
            try:
                return await model.request(request)
            except ModelError as error:
                if not self._fallback_on(error):
                    raise
                failures.append(f"{model.name}: {error}")
                if index + 1 < len(self.models):
                    following = self.models[index + 1].name
                    report_retry(
                        index + 1, 0.0, f"{model.name} failed ({error}); asking {following}"
                    )
        raise ModelUnavailable("every model failed: " + "; ".join(failures))
