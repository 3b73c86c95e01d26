"""Every code snippet the docs include is a file, and it runs (code held in a page: test_pages)."""

from __future__ import annotations

import re
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
    "typed_tools.py": [
        "['employee', 'amount', 'category']\n"
        "error: Invalid arguments for file_claim: 1 validation error(s): - amount: Input should "
        "be greater than 0 (got '-3')\n"
        "error: Refused by precondition: 900 EUR is above the 500 EUR limit\n"
        "ok: filed 42.50 EUR of meals for sam\n"
        "error: Invalid arguments for place_order: 1 validation error(s): - (arguments): lines: "
        "[] should be non-empty (got {'order': 'PO-7', 'lines': []})\n"
        "ok: ordered 1 line(s) on PO-7\n"
    ],
    "approval_pause_resume.py": [
        "awaiting_approval - refund of 240.0 EUR is above 100 EUR",
        "completed - Refund done.",
    ],
    "approval_edit.py": [
        "refused: the edited call is refused: refund of 900 EUR is above the 500 EUR cap",
        "approved: {'order': 'A-17', 'amount': '120'} - a new digest: True",
        "the model read: The approver lee edited this call before approving it; "
        "executed: refund(amount='120', order='A-17'). Result: refunded 120 EUR on A-17",
    ],
    "mcp_tools.py": [
        "[('order_total', 'reads'), ('refund', 'writes')]\n"
        "awaiting_approval - refund of 240 EUR is above 100 EUR\n"
        "completed - refunded 240.0 EUR on A-18\n"
    ],
    "providers_and_streaming.py": [
        "Booking| LX318.|\n[refused: 9400.0 EUR is above the 2000 EUR cap]\n"
        "That fare is |over the cap.|\n[claude-sonnet-5: completed]\n",
        "[gpt-5: completed]",
    ],
    "durable_streaming.py": [
        "step: user_message\nwhile the model writes: 'Your flight to Zuric'\nstep: model_call\n"
        "step: reply\nreply: Your flight to Zurich is LX318, at 09:40.\n"
    ],
    "model_settings.py": [
        "{'temperature': 0.2, 'top_p': 0.9, 'stop': ['END']}\n"
        "safety_identifier: ff8d9819fc0e12bf ...\n"
        "stop_sequences: ['END'] user_id: ff8d9819fc0e12bf\n"
        "refused: the Messages API takes no temperature or top_p",
    ],
    "prompt_caching.py": [
        "read 0, written 1286, uncached 83\nread 1286, written 27, uncached 0\n",
    ],
    "tool_images.py": [
        "claude: tool_result ['text', 'image']\n"
        "openai: tool 'Fares for the next 30 days:\\n(1 file returned, in the next message)'\n"
        "openai: user ['text', 'image_url']\n"
    ],
    "structured_output.py": [
        "completed - Zurich 3\nthe model was told: - nights: Input should be less than or equal "
        "to 30 (got 90)\n"
    ],
}
RUN_ELSEWHERE = {
    # The MCP server mcp_tools.py starts on stdio.
    "mcp_server.py",
}


def test_every_snippet_is_checked() -> None:
    assert sorted(p.name for p in SNIPPETS.glob("*.py")) == sorted({*EXPECTED, *RUN_ELSEWHERE})


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
    for name in {*EXPECTED, *RUN_ELSEWHERE}:
        # The whole file, or a section of it (`--8<-- "docs/snippets/name.py:section"`).
        assert re.search(rf'--8<-- "docs/snippets/{re.escape(name)}(:[\w-]+)?"', pages), name
