"""The audit trail: "why did the agent book this?" with an answer an auditor can read and trust.

Every step of a conversation — each model call, tool call, precondition decision and approval —
is an OpenTelemetry span (``gen_ai.*`` semantic conventions where they exist), one trace per
conversation even across Temporal, written to a hash-chained, append-only table and, when
configured, to OTLP. Content is redacted before it is recorded.

Setting it up::

    tracing = configure_tracing(database_url="postgresql://audit@db/agentflow")

    # in-process
    agent = Agent(model, tools=..., event_handlers=[AuditHandler(tracing, model=model)])

    # on Temporal
    worker = create_worker(client, [agent], tracer_provider=tracing)
    agents = AgentClient(client, tracer_provider=tracing)

Reading and checking it: ``agentflow trace CONVERSATION_ID`` and ``agentflow audit verify``.

The store, exporter and setup modules are imported on first use: every worker imports the
recorder and the Temporal interceptor, and should not pay for SQLAlchemy and the OpenTelemetry
SDK unless tracing is configured. [`AuditInterceptor`][agentflow.audit.AuditInterceptor] is
Temporal's side of the trail and lives with it (`agentflow.temporal.tracing`): no module here
imports ``agentflow.temporal``, and this package names the interceptor only when it is asked for.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from agentflow.extras import require

require("audit", "agentflow.audit")

# After the check, so that a missing extra is one line naming it.
from agentflow.audit.handler import AuditHandler  # noqa: E402
from agentflow.audit.recorder import recorder_for  # noqa: E402
from agentflow.audit.redaction import Redact, Redactor, redact_value  # noqa: E402
from agentflow.intent import Intent, IntentLog, ReadOnlyPolicy  # noqa: E402

if TYPE_CHECKING:
    from agentflow.audit.checkpoints import Checkpoint, Checkpointer, SigningKey, VerifyKeys
    from agentflow.audit.exporter import AuditSpanExporter, span_record
    from agentflow.audit.setup import DEFAULT_DATABASE_URL, AuditTracerProvider, configure_tracing
    from agentflow.audit.store import (
        AuditStore,
        Problem,
        SpanRecord,
        StoredRecord,
        Verification,
    )
    from agentflow.audit.tree import SpanNode, span_trees
    from agentflow.temporal.tracing import AuditInterceptor

__all__ = [
    # setting up
    "configure_tracing",
    "AuditTracerProvider",
    "DEFAULT_DATABASE_URL",
    "recorder_for",
    # recording
    "AuditHandler",
    "AuditInterceptor",
    "Redact",
    "Redactor",
    "redact_value",
    # audit before act
    "Intent",
    "IntentLog",
    "ReadOnlyPolicy",
    # storing, checking, reading
    "AuditSpanExporter",
    "AuditStore",
    "Problem",
    "SpanNode",
    "SpanRecord",
    "StoredRecord",
    "Verification",
    "span_record",
    "span_trees",
    # checkpoints
    "Checkpoint",
    "Checkpointer",
    "SigningKey",
    "VerifyKeys",
]

_LAZY = {
    "Checkpoint": "agentflow.audit.checkpoints",
    "Checkpointer": "agentflow.audit.checkpoints",
    "SigningKey": "agentflow.audit.checkpoints",
    "VerifyKeys": "agentflow.audit.checkpoints",
    "AuditSpanExporter": "agentflow.audit.exporter",
    "span_record": "agentflow.audit.exporter",
    "DEFAULT_DATABASE_URL": "agentflow.audit.setup",
    "AuditTracerProvider": "agentflow.audit.setup",
    "configure_tracing": "agentflow.audit.setup",
    "AuditStore": "agentflow.audit.store",
    "Problem": "agentflow.audit.store",
    "SpanRecord": "agentflow.audit.store",
    "StoredRecord": "agentflow.audit.store",
    "Verification": "agentflow.audit.store",
    "AuditInterceptor": "agentflow.temporal.tracing",
    "SpanNode": "agentflow.audit.tree",
    "span_trees": "agentflow.audit.tree",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
