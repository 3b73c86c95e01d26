"""docs/tutorial.md shows what its snippets really print, line for line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text()


def shown_output(snippet: str) -> str:
    """The first ```text block after the snippet's include on the page."""
    include = TUTORIAL.index(f'--8<-- "docs/snippets/{snippet}"')
    match = re.compile(r"```text\n(.*?)```", re.DOTALL).search(TUTORIAL, include)
    assert match is not None, f"no output shown for {snippet}"
    return match.group(1)


@pytest.mark.parametrize("snippet", ["tutorial_in_process.py", "tutorial_durable.py"])
def test_the_page_shows_the_real_output(snippet: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "snippets" / snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    printed = [line.rstrip() for line in result.stdout.splitlines()]
    assert printed == shown_output(snippet).splitlines()


def test_every_section_the_page_includes_exists() -> None:
    sections = re.findall(r'--8<-- "docs/snippets/(\w+\.py):([\w-]+)"', TUTORIAL)
    assert len(sections) == 4
    for file, section in sections:
        text = (ROOT / "docs" / "snippets" / file).read_text()
        assert f"# --8<-- [start:{section}]" in text and f"# --8<-- [end:{section}]" in text
