"""Finding and importing a suite: a broken one is named, never half-loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow import ConfigurationError
from agentflow.eval import load_suite
from examples.travel.evals.suite import suite as travel

ROOT = Path(__file__).resolve().parents[2]


def test_the_travel_suite_loads_from_its_directory_or_a_scenario_file() -> None:
    evals = ROOT / "examples" / "travel" / "evals"
    assert load_suite(evals) is travel
    assert load_suite(evals / "scenarios" / "hard-cap.yaml") is travel


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n", "`suite` is missing or does not implement Suite"),
        ("suite = object()\n", "`suite` is missing or does not implement Suite"),
        ("raise RuntimeError('boom')\n", "import failed: boom"),
    ],
)
def test_a_broken_suite_file_is_named(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "suite.py").write_text(source)
    with pytest.raises(ConfigurationError) as caught:
        load_suite(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'suite.py'}: {message}"
