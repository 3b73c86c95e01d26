"""The API reference: every exported name is on the page, and cross-references are links.

The reference is what mkdocstrings renders from docs/api.md; the site's ``objects.inv`` lists
every object it rendered, so a name missing from it (no docstring, a package left out of the
page) is missing for the reader too.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = [
    "agentflow",
    "agentflow.testing",
    "agentflow.temporal",
    "agentflow.approvals",
    "agentflow.audit",
]
SPHINX_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj|ref):`")


def rendered_objects(site: Path) -> set[str]:
    """The objects the built site documents, from the inventory mkdocstrings writes."""
    *header, compressed = (site / "objects.inv").read_bytes().split(b"\n", 4)
    assert header[0].startswith(b"# Sphinx inventory")
    body = zlib.decompress(compressed)
    return {line.split(" ")[0] for line in body.decode().splitlines()}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", folder],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
    )
    assert built.returncode == 0, built.stderr
    return folder


@pytest.mark.parametrize("package", DOCUMENTED)
def test_every_exported_name_is_in_the_reference(site: Path, package: str) -> None:
    rendered = rendered_objects(site)
    exported = importlib.import_module(package).__all__
    assert exported
    missing = [name for name in exported if f"{package}.{name}" not in rendered]
    assert not missing, f"{package}: not in docs/api.md (give each a docstring): {missing}"


def test_docstrings_use_mkdocstrings_cross_references_not_sphinx_roles() -> None:
    """A Sphinx role (``:class:`X```) renders as literal text: write ``[`X`][agentflow.X]``."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in ("agentflow", "workflows")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if SPHINX_ROLE.search(line)
    ]
    assert not found, "\n".join(found[:20]) + f"\n... {len(found)} in all"


def test_the_agent_documents_every_argument() -> None:
    """``Agent(name=...)`` decides how durable runs find the agent; it was not documented."""
    import inspect

    from docstring_parser import parse

    from agentflow import Agent

    documented = {p.arg_name for p in parse(Agent.__doc__ or "").params}
    arguments = set(inspect.signature(Agent.__init__).parameters) - {"self"}
    assert arguments <= documented, sorted(arguments - documented)
