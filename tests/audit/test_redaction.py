"""Personal data is masked before it is recorded; what we did not write is masked on export."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from agentflow.audit import AuditTracerProvider, Redactor, configure_tracing, redact_value
from agentflow.audit.attributes import Content
from agentflow.audit.redaction import luhn_valid


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("pay with 4111 1111 1111 1111 please", "pay with [CARD ****1111] please"),
        ("4111-1111-1111-1111", "[CARD ****1111]"),
        ("4111111111111111", "[CARD ****1111]"),
        ("amex 378282246310005", "amex [CARD ****0005]"),
        # A number right before the card must not hide it.
        ("book LX14 2400 4111 1111 1111 1111", "book LX14 2400 [CARD ****1111]"),
        ("two: 5555 5555 5555 4444, 4012888888881881", "two: [CARD ****4444], [CARD ****1881]"),
        # Not a card: the checksum fails, or too few digits.
        ("order 4111 1111 1111 1112", "order 4111 1111 1111 1112"),
        ("call +41 44 668 18 00", "call +41 44 668 18 00"),
        ("my passport is X1234567.", "my passport is [PASSPORT]."),
        ("Passport number: C01X00T47", "Passport number: [PASSPORT]"),
        ("passport no. 123456789", "passport no. [PASSPORT]"),
        ("bring your passport please", "bring your passport please"),
        ("flight LX1234567 to Zurich", "flight LX1234567 to Zurich"),
        ("write to alice.smith+travel@example.co.uk", "write to [EMAIL]"),
        # Any separator between the groups of a card.
        ("4111.1111.1111.1111", "[CARD ****1111]"),
        ("4111/1111/1111/1111", "[CARD ****1111]"),
        ("4111\u00a01111\u00a01111\u00a01111", "[CARD ****1111]"),
        ("4111\u202f1111\u202f1111\u202f1111", "[CARD ****1111]"),
        ("4111 - 1111 - 1111 - 1111", "[CARD ****1111]"),
        ("4111\u20131111\u20131111\u20131111", "[CARD ****1111]"),
        ("4111\u200b1111\u200b1111\u200b1111", "[CARD ****1111]"),
        ("3782.822463.10005", "[CARD ****0005]"),
        ('{"card": 4111111111111111}', '{"card": [CARD ****1111]}'),
        ("on 2026-12-14 at 10.30", "on 2026-12-14 at 10.30"),
        # Passport numbers in either case.
        ("my passport is x1234567.", "my passport is [PASSPORT]."),
        ("PASSPORT NO. c01x00t47", "PASSPORT NO. [PASSPORT]"),
        # IBANs: grouped or not, in either case, checked with mod 97.
        ("IBAN CH93 0076 2011 6238 5295 7, thanks", "IBAN [IBAN ****2957], thanks"),
        ("to DE89370400440532013000.", "to [IBAN ****3000]."),
        ("gb82 west 1234 5698 7654 32", "[IBAN ****5432]"),
        ("BE68 5390 0754 7034 from Ann", "[IBAN ****7034] from Ann"),
        ("CH93\u00a00076\u00a02011\u00a06238\u00a05295\u00a07", "[IBAN ****2957]"),
        ("GB82 WEST 1234 5698 7654 33", "GB82 WEST 1234 5698 7654 33"),
        ("LX14 to Zurich on Friday at 10", "LX14 to Zurich on Friday at 10"),
    ],
)
def test_default_patterns(text: str, masked: str) -> None:
    assert Redactor()(text) == masked


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_patterns_are_configurable() -> None:
    redact = Redactor(emails=False, patterns={"employee": r"\bE-\d{6}\b"})
    assert redact("E-123456 / a@b.ch") == "[EMPLOYEE] / a@b.ch"
    redact = Redactor(patterns={"ref": (r"REF-(\d+)", lambda m: f"REF-{'#' * len(m[1])}")})
    assert redact("see REF-1234") == "see REF-####"


def test_structures_are_masked_by_key_and_by_value() -> None:
    arguments = {
        "flight_id": "LX14",
        "card_number": "4111111111111111",
        "passport_number": "X1234567",
        "contact": {"email": "someone", "note": "or bob@example.com"},
        "email_verified": True,
        "travellers": ["ann@example.com"],
    }
    assert redact_value(arguments, Redactor()) == {
        "flight_id": "LX14",
        "card_number": "[CARD ****1111]",
        "passport_number": "[REDACTED]",
        "contact": {"email": "[REDACTED]", "note": "or [EMAIL]"},
        "email_verified": True,
        "travellers": ["[EMAIL]"],
    }
    # A card sent as a JSON number is masked too; other numbers stay numbers.
    assert redact_value({"n": 4111111111111111, "price": 820.5, "seats": 2}, Redactor()) == {
        "n": "[CARD ****1111]",
        "price": 820.5,
        "seats": 2,
    }
    # A plain callable knows nothing of keys: only its own masking applies.
    assert redact_value({"passport": "X1"}, str.upper) == {"passport": "X1"}


@pytest.fixture
def provider(exported: InMemorySpanExporter, tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{tmp_path_factory.mktemp('audit')}/audit.db"
    tracing = configure_tracing(database_url=url, exporters=[exported], otlp=False, batch=False)
    yield tracing
    tracing.shutdown()


def test_exception_texts_are_redacted_before_any_exporter(
    provider: AuditTracerProvider, exported: InMemorySpanExporter
) -> None:
    """Temporal's interceptor and OpenTelemetry record exceptions we did not word ourselves."""
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("RunActivity:agentflow.tool_call") as span:
        span.record_exception(ValueError("card 4111 1111 1111 1111 was declined"))
        span.set_status(Status(StatusCode.ERROR, "ValueError: card 4111 1111 1111 1111"))
    (exported_span,) = exported.get_finished_spans()
    assert exported_span.status.description == "ValueError: card [CARD ****1111]"
    (event,) = exported_span.events
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "card [CARD ****1111] was declined"
    assert provider.store is not None
    stored = json.dumps([s.record.body() for s in provider.store.records()])
    assert "4111 1111" not in stored and "[CARD ****1111]" in stored


def test_a_custom_redactor_is_used_for_every_piece_of_content(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from agentflow.audit.recorder import SpanRecorder, recorder_for

    url = f"sqlite:///{tmp_path_factory.mktemp('audit')}/audit.db"
    tracing = configure_tracing(
        database_url=url, redactor=lambda s: s.replace("Zurich", "[CITY]"), otlp=False
    )
    recorder = recorder_for(tracing)
    assert isinstance(recorder, SpanRecorder)
    assert recorder.content.text("to Zurich") == "to [CITY]"
    assert recorder.content.json({"to": "Zurich"}) == '{"to": "[CITY]"}'
    tracing.shutdown()


def test_a_card_sent_as_a_json_number_is_masked_in_arguments_and_results() -> None:
    content = Content()
    assert content.json({"amount": 4111111111111111}) == '{"amount": "[CARD ****1111]"}'
    assert content.result('{"paid": 4111111111111111}') == '{"paid": "[CARD ****1111]"}'
    assert content.result("[4111111111111111, 12]") == '["[CARD ****1111]", 12]'
