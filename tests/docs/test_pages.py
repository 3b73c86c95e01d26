"""The code on these docs pages is the code that runs: no copy of it lives anywhere else.

Each ```python block on a page carries the file it belongs to (```python title="name.py"```);
the blocks of one title, in order, are that file, imports and helpers included. The test writes
a page's files into an empty folder, runs each, and compares what it prints with the ```text
block the page shows after the file's last block. With the code in the page, not included from
elsewhere, the page reads the same on GitHub as on the site.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    "quickstart.md",
    "tutorial.md",
    "concepts/durability.md",
    "concepts/seams.md",
    "concepts/provenance.md",
]
BLOCK = re.compile(
    r"^```python(?P<info>[^\n]*)\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL
)
TITLE = re.compile(r'title="(?P<file>[\w.]+\.py)"')
SHOWN = re.compile(r"^```text\n(?P<text>.*?)^```", re.MULTILINE | re.DOTALL)


def page_files(page: str) -> dict[str, tuple[str, int]]:
    """Each file the page's blocks make up: its source, and where its last block ends."""
    text = (ROOT / "docs" / page).read_text()
    files: dict[str, tuple[str, int]] = {}
    for block in BLOCK.finditer(text):
        title = TITLE.search(block.group("info"))
        assert title is not None, f"{page}: a python block says no file: {block.group()[:80]!r}"
        name = title.group("file")
        before = files.get(name, ("", 0))[0]
        files[name] = (before + ("\n\n" if before else "") + block.group("code"), block.end())
    return files


def shown_output(page: str, end: int) -> str | None:
    """The ```text block after a file's last block, unless another python block comes first."""
    text = (ROOT / "docs" / page).read_text()
    shown = SHOWN.search(text, end)
    following = BLOCK.search(text, end)
    if shown is None or (following is not None and following.start() < shown.start()):
        return None
    return shown.group("text")


@pytest.mark.parametrize("page", PAGES)
def test_the_page_holds_its_code(page: str) -> None:
    text = (ROOT / "docs" / page).read_text()
    assert "--8<--" not in text, f"{page} includes code from elsewhere: GitHub shows the marker"
    assert page_files(page), page


@pytest.mark.parametrize(
    ("page", "name"), [(page, name) for page in PAGES for name in sorted(page_files(page))]
)
def test_the_file_runs_and_prints_what_the_page_shows(page: str, name: str, tmp_path: Path) -> None:
    files = page_files(page)
    for other, (source, _) in files.items():
        (tmp_path / other).write_text(source)
    result = subprocess.run(
        [sys.executable, name], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    shown = shown_output(page, files[name][1])
    if shown is not None:
        printed = [line.rstrip() for line in result.stdout.splitlines()]
        assert printed == shown.splitlines(), result.stdout
