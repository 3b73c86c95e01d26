"""``python -m bench.mutation check``: what makes it fail, and the committed baseline it reads.

The mutation run itself is too slow for the suite (``make mutation``); the comparison that
decides whether a run is worse than the baseline, and the sample it draws, are checked here.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.mutation.__main__ import BASELINE, _sampled, accept_rows, problems
from bench.mutation.catalogue import CATALOGUE
from bench.mutation.scope import MODULES

KEY = "agentflow/binding.py:approval_plan: return a -> return b"


def results(**changes: Any) -> dict[str, Any]:
    modules = {m.path: {"mutants": 10, "killed": 10, "score": 1.0} for m in MODULES}
    modules["agentflow/binding.py"] = {"mutants": 10, "killed": 9, "score": 0.9}
    base: dict[str, Any] = {
        "sample": 0.1,
        "modules": modules,
        "survivors": [{"key": KEY, "module": "agentflow/binding.py", "status": "survived"}],
        "catalogue": [{"name": m.name, "path": m.path, "status": "killed"} for m in CATALOGUE],
    }
    return base | changes


BASELINE_OF_RESULTS = {
    "sample": 0.1,
    "modules": {m.path: {"mutants": 10, "equivalent": 1, "score": 1.0} for m in MODULES},
    "survivors": {KEY: {"kind": "equivalent", "why": "the same plan either way"}},
}


def test_results_as_good_as_the_baseline_pass() -> None:
    assert problems(results(), BASELINE_OF_RESULTS) == []


def test_a_lower_score_fails() -> None:
    worse = results()
    worse["modules"]["agentflow/loop.py"]["killed"] = 9
    assert problems(worse, BASELINE_OF_RESULTS) == [
        "agentflow/loop.py: score 90.00% < baseline 100.00%"
    ]


def test_a_survivor_the_baseline_does_not_list_fails() -> None:
    new = {
        "key": "agentflow/loop.py:f: a -> b",
        "module": "agentflow/loop.py",
        "status": "survived",
    }
    found = problems(results(survivors=[*results()["survivors"], new]), BASELINE_OF_RESULTS)
    assert found == ["new survivor (survived): agentflow/loop.py:f: a -> b"]


def test_a_listed_survivor_without_a_reason_fails() -> None:
    baseline = copy.deepcopy(BASELINE_OF_RESULTS)
    baseline["survivors"][KEY]["why"] = "  "
    assert problems(results(), baseline) == [f"baseline survivor without a reason: {KEY}"]


def test_a_named_mutant_that_survives_or_was_not_run_fails() -> None:
    verdicts = results()["catalogue"]
    verdicts[0]["status"] = "survived"
    found = problems(results(catalogue=verdicts[:-1]), BASELINE_OF_RESULTS)
    assert found == [
        f"named mutant {CATALOGUE[-1].name}: not run",
        f"named mutant {CATALOGUE[0].name}: survived",
    ]


def test_a_module_without_results_fails() -> None:
    partial = results()
    del partial["modules"]["workflows/approval.py"]
    (found,) = problems(partial, BASELINE_OF_RESULTS)
    assert found.startswith("workflows/approval.py: no results")


def test_results_of_another_sample_are_not_compared() -> None:
    assert problems(results(sample=1.0), BASELINE_OF_RESULTS) == [
        "results of sample 1.0, baseline of 0.1"
    ]


def test_accepting_keeps_the_reasons_given_and_lists_new_survivors_as_gaps() -> None:
    new = {
        "key": "agentflow/loop.py:f: a -> b",
        "module": "agentflow/loop.py",
        "status": "survived",
    }
    run = results(survivors=[*results()["survivors"], new])
    run["modules"]["agentflow/loop.py"]["killed"] = 9
    baseline = accept_rows(run, BASELINE_OF_RESULTS)
    assert baseline["survivors"] == {
        KEY: {"kind": "equivalent", "why": "the same plan either way"},
        new["key"]: {"kind": "gap", "why": ""},
    }
    assert baseline["modules"]["agentflow/loop.py"]["score"] == 0.9
    assert baseline["modules"]["agentflow/binding.py"]["score"] == 1.0
    assert problems(run, baseline) == [f"baseline survivor without a reason: {new['key']}"]


def test_the_sample_is_a_stable_fraction_of_the_mutants() -> None:
    keys = [f"agentflow/loop.py:f: x == {n} -> x != {n}" for n in range(2000)]
    drawn = [k for k in keys if _sampled(k, 0.1)]
    assert drawn == [k for k in keys if _sampled(k, 0.1)]
    assert 150 <= len(drawn) <= 250
    assert set(drawn) <= {k for k in keys if _sampled(k, 0.5)}
    assert all(_sampled(k, 1.0) for k in keys) and not any(_sampled(k, 0.0) for k in keys)


def test_the_committed_baseline_covers_the_scope_and_explains_every_survivor() -> None:
    baseline = json.loads(BASELINE.read_text())
    make = (Path(__file__).parents[2] / "Makefile").read_text()
    default = re.search(r"^MUTATION_SAMPLE \?= (\S+)$", make, re.MULTILINE)
    assert default is not None and float(default.group(1)) == baseline["sample"]
    assert set(baseline["modules"]) == {m.path for m in MODULES}
    for key, note in baseline["survivors"].items():
        assert note["kind"] in ("equivalent", "gap"), key
        assert note["why"].strip(), key


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.path)
def test_every_module_in_scope_has_test_files_that_exist(module: Any) -> None:
    root = Path(__file__).parents[2]
    assert module.tests and all((root / t).is_file() for t in module.tests)
