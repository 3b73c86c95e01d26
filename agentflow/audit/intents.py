"""``StoreIntents``: the record of a call's intent, in the audit store before the call runs.

The intent is a zero-length span (``intent <tool>``, step ``intent``) in the conversation's
trace, child of the tool call's span. Unlike every other span it does not wait for the batch
processor: `StoreIntents.record_intent` appends it to the store itself and returns only
once the transaction committed, which is what lets `agentflow.intent` run the body. The
store's exporter then skips it (it is there already); other exporters (OTLP, a test's) get it
like any span.
"""

from __future__ import annotations

import asyncio

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Tracer

from agentflow.audit import attributes as attrs
from agentflow.audit.attributes import Content
from agentflow.audit.exporter import span_record
from agentflow.audit.store import AuditStore
from agentflow.intent import Intent, ReadOnlyPolicy


class StoreIntents:
    """An `IntentLog` that writes into an [`AuditStore`][agentflow.audit.AuditStore].

    Args:
        tracer: the audit trail's tracer (its provider's other exporters get the span too).
        store: where the intent must be before the body runs.
        content: the trail's content policy (redaction of the arguments).
        read_only: ``"continue"`` lets a read-only call run when its intent cannot be written.
    """

    def __init__(
        self,
        tracer: Tracer,
        store: AuditStore,
        content: Content,
        *,
        read_only: ReadOnlyPolicy = "refuse",
    ) -> None:
        self.tracer = tracer
        self.store = store
        self.content = content
        self.read_only: ReadOnlyPolicy = read_only

    async def record_intent(self, intent: Intent) -> None:
        """Write ``intent``, a child of the current span (the tool call's), durably."""
        span = self.tracer.start_span(
            f"intent {intent.tool}", attributes=attrs.intent(intent, content=self.content)
        )
        span.end()
        if not isinstance(span, ReadableSpan):  # a no-op tracer: nothing is recorded anywhere
            return
        await asyncio.to_thread(self.store.append, [span_record(span)])
