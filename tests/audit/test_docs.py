"""The example in docs/audit.md is a file, and it runs and prints what the page says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = Path(__file__).with_name("docs_audit_trail.py")


def test_the_docs_example_runs() -> None:
    env = {**os.environ, "COLUMNS": "160"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    env.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for line in (
        "Refund done.",
        "the audit trail is intact",
        'user "Refund A-17, paid with [CARD ****1111]" → awaiting_approval',
        "? rule small_or_approved: needs_approval — refund of 240.0 EUR is above 100 EUR",
        "approval decided → approved by lee",
        "precondition → ✓ allow (approved by lee)",
    ):
        assert line in result.stdout, result.stdout
    assert "4111 1111" not in result.stdout


def test_the_docs_page_quotes_the_example() -> None:
    page = (ROOT / "docs" / "audit.md").read_text()
    assert f'--8<-- "{EXAMPLE.relative_to(ROOT)}"' in page
