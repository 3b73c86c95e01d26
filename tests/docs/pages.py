"""The code a docs page holds: its blocks, titled by file, put together into those files.

Each ```python block on a page carries the file it belongs to (```python title="name.py"```);
the blocks of one title, in order, are that file, imports and helpers included. A block of
another language titled with a path in the repository (```yaml title="examples/.../x.yaml"```)
quotes that file whole.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"^```python(?P<info>[^\n]*)\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL
)
TITLE = re.compile(r'title="(?P<file>[\w.]+\.py)"')
SHOWN = re.compile(r"^```text\n(?P<text>.*?)^```", re.MULTILINE | re.DOTALL)
QUOTE = re.compile(
    r'^```\w+[ \t]+title="(?P<path>[\w.-]+/[\w./-]+)"[^\n]*\n(?P<text>.*?)^```[ \t]*$',
    re.MULTILINE | re.DOTALL,
)


def page_files(page: str) -> dict[str, tuple[str, int]]:
    """Each file the page's blocks make up: its source, and where its last block ends."""
    text = (DOCS / page).read_text()
    files: dict[str, tuple[str, int]] = {}
    for block in BLOCK.finditer(text):
        title = TITLE.search(block.group("info"))
        assert title is not None, f"{page}: a python block says no file: {block.group()[:80]!r}"
        name = title.group("file")
        before = files.get(name, ("", 0))[0]
        files[name] = (before + ("\n\n" if before else "") + block.group("code"), block.end())
    return files


def write_page_files(page: str, folder: Path) -> None:
    """Write every file of the page into `folder`, as a reader copying the page would."""
    for name, (source, _) in page_files(page).items():
        (folder / name).write_text(source)


def shown_output(page: str, end: int) -> str | None:
    """The ```text block after a file's last block, unless another python block comes first."""
    text = (DOCS / page).read_text()
    shown = SHOWN.search(text, end)
    following = BLOCK.search(text, end)
    if shown is None or (following is not None and following.start() < shown.start()):
        return None
    return shown.group("text")


def quoted_files(page: str) -> list[tuple[str, str]]:
    """The repository files the page quotes, each with the text the page shows for it."""
    return [(m.group("path"), m.group("text")) for m in QUOTE.finditer((DOCS / page).read_text())]
