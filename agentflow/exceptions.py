"""Exceptions, in two families that never mix.

Signals, raised *inside* a run and turned by the runtime into something the model sees::

    ModelRetry                 a tool asks the model to try again, with a message
    InvalidArguments           the model's tool arguments cannot be validated

Errors, raised *to callers* of agentflow::

    AgentflowError
    ├── ConfigurationError     something required is missing or wrong (names the variable)
    ├── ToolDefinitionError    a function cannot be turned into a tool
    ├── ModelError             a model call failed after the retries the adapter allows
    │   ├── ModelHTTPError     the API answered with an error status (status and body kept)
    │   ├── ModelUnavailable   no answer at all: connection refused, timeout
    │   └── ModelResponseError an answer that cannot be read (what was wrong kept in ``detail``)
    ├── OutputUnavailable      a structured answer asked of a run that did not complete
    ├── ApprovalError          an approval decision that does not match a pending request
    ├── InvalidInput           a user message that cannot enter the conversation
    │   ├── NotParticipant     its sender may not write in this conversation
    │   └── ConversationEnded  the conversation is over (its workflow failed or was closed)
    ├── TemporalUnavailable    Temporal did not answer in time, or could not be reached
    └── WorkflowPaused         a conversation or approval waits for code that replays it
"""

from __future__ import annotations


class ModelRetry(Exception):
    """Raised by a tool body to send ``message`` back to the model as an error result."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArguments(Exception):
    """The model's arguments cannot be used; ``message`` is written for the model to act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AgentflowError(Exception):
    """Base class for every error agentflow raises to its callers."""


class ConfigurationError(AgentflowError):
    """Required configuration is missing or invalid."""


class ToolDefinitionError(AgentflowError):
    """A Python function cannot be turned into a tool (e.g. an unannotated parameter)."""


class ModelError(AgentflowError):
    """A model call failed and the adapter will not retry it any more."""


class ModelHTTPError(ModelError):
    """The model's API answered with an error status (``status_code``, and its ``body``)."""

    def __init__(self, status_code: int, message: str, body: object = None) -> None:
        super().__init__(f"model API returned HTTP {status_code}: {message}")
        self.status_code = status_code
        self.body = body


class ModelUnavailable(ModelError):
    """The model could not be reached (connection error or timeout) after retries."""


class ModelResponseError(ModelError):
    """The API answered, but not with a message we can read (bad JSON, missing fields, ...).

    The message is one sentence for a person; ``detail`` says what exactly was wrong, for the
    trace. It is not retried: the same request would likely be answered (and billed) the same.
    """

    def __init__(self, detail: str) -> None:
        super().__init__("the model's answer could not be understood")
        self.detail = detail


class OutputUnavailable(AgentflowError):
    """A run's typed ``output`` was read, but the run ended without an answer (see its status)."""


class ApprovalError(AgentflowError):
    """An approval decision does not match any pending request of this run."""


class InvalidInput(AgentflowError):
    """A user message that cannot enter the conversation (empty, oversize, wrong moment)."""


class NotParticipant(InvalidInput):
    """The sender is not the conversation's owner, nor a party it allows."""


class ConversationEnded(InvalidInput):
    """The conversation is over: its workflow completed, failed or was terminated.

    The message says why (for instance, no worker serves the agent it was started for).
    """


class TemporalUnavailable(AgentflowError):
    """Temporal did not answer in time, or could not be reached.

    The request may still have taken effect (an update can land after the client gave up):
    ask again, or read the conversation or approval, to learn its state.
    """


class WorkflowPaused(AgentflowError):
    """A conversation or approval is paused: its workflow's task fails on the running code.

    Typically a deploy changed workflow code so that it no longer replays this workflow's
    history. Nothing is lost; it resumes once a worker whose code replays it serves it again
    (see `agentflow.temporal.health` and ``agentflow doctor``).
    """
