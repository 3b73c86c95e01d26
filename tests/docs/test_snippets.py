"""Every code snippet in the docs is a file, and it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"
EXPECTED = {
    "tools_and_preconditions.py": [
        "error: Refused by precondition: 2026-12-05 is a weekend day",
        "error: Invalid arguments for book_room: 1 validation error(s):",
        "ok: booked",
        "B204 is yours on Monday.",
    ],
    "approval_pause_resume.py": [
        "awaiting_approval - refund of 240.0 EUR is above 100 EUR",
        "completed - Refund done.",
    ],
    "durable_conversation.py": ["completed - Hello from a workflow."],
}


def test_every_snippet_is_checked() -> None:
    assert sorted(p.name for p in SNIPPETS.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_snippet_runs_and_prints_what_the_docs_say(name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(SNIPPETS / name)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for line in EXPECTED[name]:
        assert line in result.stdout, result.stdout


def test_docs_quote_the_snippet_files() -> None:
    pages = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    for name in EXPECTED:
        assert f'--8<-- "docs/snippets/{name}"' in pages
