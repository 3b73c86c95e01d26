"""The code on these docs pages is the code that runs: no copy of it lives anywhere else.

The blocks of one title on a page are one file (tests/docs/pages.py). The test writes a page's
files into an empty folder, runs each, and compares what it prints with the ```text block the
page shows after the file's last block. With the code in the page, not included from
elsewhere, the page reads the same on GitHub as on the site.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.pages import DOCS, ROOT, page_files, quoted_files, shown_output, write_page_files

PAGES = [
    "quickstart.md",
    "tutorial.md",
    "testing.md",
    "audit.md",
    "deployment.md",
    "concepts/tools.md",
    "concepts/approvals.md",
    "concepts/models.md",
    "concepts/durability.md",
    "concepts/seams.md",
    "concepts/provenance.md",
]
RUN_ELSEWHERE = {
    # It checks the trace it prints line by line; its ids and durations differ on every run.
    ("audit.md", "audit_trail.py"): "tests/audit/test_docs.py",
    # A long-running worker, run against a dev server and stopped with SIGTERM.
    ("deployment.md", "deploy_worker.py"): "tests/docs/test_deployment.py",
    # The MCP server mcp_tools.py starts on stdio, and which it prints through.
    ("concepts/models.md", "mcp_server.py"): "mcp_tools.py on the same page",
}
ALL_PAGES = sorted(str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md"))


@pytest.mark.parametrize("page", PAGES)
def test_the_page_holds_its_code(page: str) -> None:
    assert page_files(page), page


@pytest.mark.parametrize("page", ALL_PAGES)
def test_no_page_includes_code_from_elsewhere(page: str) -> None:
    text = (DOCS / page).read_text()
    include = re.search(r"^[ \t]*--8<--", text, re.MULTILINE)  # pymdownx.snippets' marker
    assert include is None, f"{page} includes code from elsewhere: GitHub shows the marker"


@pytest.mark.parametrize("page", ALL_PAGES)
def test_every_python_block_says_its_file(page: str) -> None:
    page_files(page)  # asserts each block's title


@pytest.mark.parametrize(
    ("page", "path"), [(page, path) for page in ALL_PAGES for path, _ in quoted_files(page)]
)
def test_a_quoted_file_is_shown_as_it_is(page: str, path: str) -> None:
    shown = dict(quoted_files(page))[path]
    assert (ROOT / path).read_text() == shown, f"{page} shows {path} other than it is"


@pytest.mark.parametrize(
    ("page", "name"),
    [
        (page, name)
        for page in PAGES
        for name in sorted(page_files(page))
        if (page, name) not in RUN_ELSEWHERE
    ],
)
def test_the_file_runs_and_prints_what_the_page_shows(page: str, name: str, tmp_path: Path) -> None:
    files = page_files(page)
    write_page_files(page, tmp_path)
    result = subprocess.run(
        [sys.executable, name], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    shown = shown_output(page, files[name][1])
    if shown is not None:
        printed = [line.rstrip() for line in result.stdout.splitlines()]
        assert printed == shown.splitlines(), result.stdout


@pytest.mark.parametrize("page", PAGES)
def test_the_page_code_passes_ruff_as_the_repository_code_does(page: str, tmp_path: Path) -> None:
    """The repository's ruff settings, in a reader's folder: agentflow sorts as a dependency."""
    write_page_files(page, tmp_path)
    config = str(ROOT / "pyproject.toml")
    for command in (["check", "--output-format", "concise"], ["format", "--check", "--diff"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--config", config, "."],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{page}: ruff {command[0]}\n{result.stdout}{result.stderr}"


def test_the_files_run_elsewhere_are_on_their_pages() -> None:
    for page, name in RUN_ELSEWHERE:
        assert name in page_files(page), (page, name)
