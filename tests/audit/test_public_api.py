"""``agentflow.audit``'s names are a promise, and importing the worker side stays cheap."""

from __future__ import annotations

import subprocess
import sys

import agentflow.audit


def test_public_names_are_pinned_and_resolve() -> None:
    assert sorted(agentflow.audit.__all__) == sorted(
        [
            "configure_tracing",
            "AuditTracerProvider",
            "DEFAULT_DATABASE_URL",
            "recorder_for",
            "AuditHandler",
            "AuditInterceptor",
            "Redact",
            "Redactor",
            "redact_value",
            "AuditSpanExporter",
            "AuditStore",
            "Problem",
            "SpanNode",
            "SpanRecord",
            "StoredRecord",
            "Verification",
            "span_record",
            "span_trees",
            "Intent",
            "IntentLog",
            "ReadOnlyPolicy",
            "Checkpoint",
            "Checkpointer",
            "SigningKey",
            "VerifyKeys",
        ]
    )
    for name in agentflow.audit.__all__:
        assert getattr(agentflow.audit, name) is not None


def test_workers_do_not_import_the_store_unless_tracing_is_configured() -> None:
    # (Temporal's own OpenTelemetry package imports the OpenTelemetry SDK; that is not ours.)
    code = (
        "import sys, agentflow.temporal, agentflow.temporal.tracing, agentflow.audit; "
        "print(sorted(m for m in ('sqlmodel', 'sqlalchemy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
