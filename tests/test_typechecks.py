"""Typing is part of the contract: a rule for the wrong model, or a misspelt field, is an error.

tests/typechecks/ holds code that only a type checker runs; each line that must be an error says
so with ``# pyright: ignore[rule]``, and an ignore that is no longer needed is an error itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pyright_sees_what_the_typed_tools_promise() -> None:
    pyright = Path(sys.executable).parent / "pyright"
    result = subprocess.run(
        [str(pyright), "tests/typechecks"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout
