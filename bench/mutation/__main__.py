"""Mutation testing of the safety core: ``python -m bench.mutation run|check|accept``.

``run`` copies the working tree (tracked and untracked files, not ignored ones) to a temporary
directory, so that nothing mutates the files other people are editing, and there:

1. runs mutmut on the modules of :mod:`bench.mutation.scope`, each mutant against only the
   tests that reach its function;
2. applies each named mutant of :mod:`bench.mutation.catalogue` alone and runs its tests;
3. writes ``bench/mutation/results.json``: per module the score, every surviving mutant with its
   diff, and the catalogue's verdicts.

A score is killed / (mutants - equivalent), where the equivalent mutants are those the baseline
lists as such, each with the reason no test can tell it apart. A mutant that makes the tests
time out counts as killed.

``check`` compares the results with the committed ``bench/mutation/baseline.json`` and fails
when a module's score drops, a survivor appears that the baseline does not list, a listed
survivor has no reason, or a named mutant survives. ``accept`` writes the baseline from the
results, keeping the reasons already given (new survivors are listed as gaps without a reason,
so ``check`` fails until someone writes one, or a test kills them).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tokenize
from pathlib import Path
from typing import Any

from bench.mutation.catalogue import CATALOGUE, Mutant
from bench.mutation.scope import MODULES, Module

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
BASELINE = HERE / "baseline.json"

_DETECTED = {"killed", "timeout", "segfault"}
_STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests"}
_STATUS |= {34: "skipped", 35: "suspicious", 37: "caught by type check"}
_STATUS |= dict.fromkeys((36, -24, 24, 152, 255), "timeout") | {-11: "segfault", -9: "segfault"}
"""mutmut's exit codes, as its own ``mutmut results`` names them."""


# -- running ------------------------------------------------------------------------------------


def copy_tree(dest: Path) -> None:
    """The working tree as it is now, without ignored files (venv, caches, databases)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def configure(work: Path, modules: tuple[Module, ...]) -> None:
    """Append mutmut's settings to the copy's pyproject (the real one carries none)."""
    tests = sorted({t for m in modules for t in m.tests if (work / t).is_file()})
    settings = {
        "source_paths": _toml_list(["agentflow/", "workflows/"]),
        "only_mutate": _toml_list([m.path for m in modules]),
        "also_copy": _toml_list(["examples/", "bench/", "docs/"]),
        "pytest_add_cli_args": _toml_list(
            ["-p", "no:cacheprovider", "-p", "bench.mutation.sandbox", "-q"]
        ),
        "pytest_add_cli_args_test_selection": _toml_list(tests),
        # Temporal's runtime keeps threads: fork each mutant from a process that never ran it.
        "process_isolation": '"forkserver"',
        "use_git_change_detection": "false",
    }
    text = "\n[tool.mutmut]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
    with (work / "pyproject.toml").open("a") as file:
        file.write(text)


def run_mutmut(work: Path, names: list[str], jobs: int, log: Path) -> None:
    """``mutmut run`` on ``names`` (the first call also generates every mutant and the stats)."""
    mutmut = Path(sys.executable).with_name("mutmut")
    try:
        with log.open("a") as out:
            done = subprocess.run(
                [str(mutmut), "run", "--max-children", str(jobs), *names],
                cwd=work,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_clean_env(),
            )
    finally:
        _end_leftovers(work)
    if done.returncode != 0:
        lines = log.read_text(errors="replace").replace("\r", "\n").splitlines()
        failures = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
        shown = "\n".join([*failures[:20], *lines[-30:]])
        raise SystemExit(f"mutmut failed ({done.returncode}); log: {log}\n{shown}")


def _end_leftovers(work: Path) -> None:
    """End what a mutant's tests left running in the copy (a timed-out test's Temporal server).

    Only processes whose working directory is inside ``work``: this run started them.
    """
    inside = str(work.resolve())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd == inside or cwd.startswith(inside + "/"):
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGKILL)


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the copy, first on sys.path, is what runs
    return env


def first_mutants(work: Path, module: Module) -> list[str]:
    """A few mutants that exist, for the first ``mutmut run``, which needs one to run.

    The first mutant of each of the module's first in-scope functions: one of them has a mutant.
    """
    tree = ast.parse((work / module.path).read_text())
    mangled: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.decorator_list:
            mangled.append(f"x_{node.name}")
        elif isinstance(node, ast.ClassDef):
            mangled += [
                f"xǁ{node.name}ǁ{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                and not item.decorator_list
            ]
    covered = [name for name in mangled if module.covers(name)]
    return [f"{module.dotted}.{name}__mutmut_1" for name in covered[:3]]


def _functions(source: str) -> dict[str, str]:
    """The generated functions of a mutated module, by name, with their source."""
    found: dict[str, str] = {}
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
            found[node.name] = "\n".join(lines[node.lineno - 1 : node.end_lineno])
    return found


def _readable(mangled: str) -> str:
    """``xǁClassǁmethod`` as ``Class.method``, ``x_function`` as ``function``."""
    if mangled.startswith("xǁ"):
        return ".".join(mangled[2:].split("ǁ"))
    return mangled.removeprefix("x_")


def read_mutants(work: Path, modules: tuple[Module, ...]) -> list[dict[str, Any]]:
    """Every in-scope mutant: its stable key, mutmut's name, kind, status and diff."""
    found: list[dict[str, Any]] = []
    for module in modules:
        mutated = work / "mutants" / module.path
        meta = json.loads(Path(f"{mutated}.meta").read_text())
        sources = _functions(mutated.read_text())
        seen: dict[str, int] = {}
        names = sorted(meta["exit_code_by_key"], key=_mutant_order)
        for name in names:
            local = name.rsplit(".", 1)[1]
            mangled = local.partition("__mutmut_")[0]
            if not module.covers(mangled):
                continue
            orig_name = f"{mangled}__mutmut_orig"
            before = sources[orig_name].splitlines()
            after = sources[local].replace(local, orig_name, 1).splitlines()
            diff = [line for line in difflib.ndiff(before, after) if line[:2] in ("- ", "+ ")]
            old = [line[2:] for line in diff if line.startswith("-")]
            new = [line[2:] for line in diff if line.startswith("+")]
            removed, added = " / ".join(x.strip() for x in old), " / ".join(x.strip() for x in new)
            key = f"{module.path}:{_readable(mangled)}: {removed} -> {added}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key} #{seen[key]}"
            code = meta["exit_code_by_key"][name]
            found.append(
                {
                    "key": key,
                    "module": module.path,
                    "mutant": name,
                    "kind": "wording" if _rewords("\n".join(old), "\n".join(new)) else "logic",
                    "status": "not checked" if code is None else _STATUS.get(code, "suspicious"),
                    "diff": "\n".join(diff),
                }
            )
    return found


def _tokens(code: str) -> list[tokenize.TokenInfo] | None:
    try:
        tokens = tokenize.generate_tokens(io.StringIO(code.strip() + "\n").readline)
        return [t for t in tokens if t.type not in (tokenize.NL, tokenize.NEWLINE)]
    except (tokenize.TokenError, SyntaxError):
        return None


def _rewords(old: str, new: str) -> bool:
    """Whether the change only rewords prose: string literals with a space in them.

    Such a literal is a sentence for a person (an error's text, a reason); a literal without
    one (``"approved"``, a dict key, a separator) is data, and a change to it counts.
    """
    before, after = _tokens(old), _tokens(new)
    if not before or not after or len(before) != len(after):
        return False
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a.string != b.string]
    return bool(changed) and all(
        a.type == b.type == tokenize.STRING and " " in a.string for a, b in changed
    )


def _sampled(key: str, fraction: float) -> bool:
    """A stable choice: the same mutants are drawn on every run while their code stays."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def _mutant_order(name: str) -> tuple[str, int]:
    function, _, number = name.rpartition("__mutmut_")
    return function, int(number) if number.isdigit() else -1


def run_catalogue(work: Path, entries: tuple[Mutant, ...]) -> list[dict[str, Any]]:
    """Apply each named mutant alone to the pristine copy and run its tests."""
    verdicts: list[dict[str, Any]] = []
    for entry in entries:
        path = work / entry.path
        original = path.read_text()
        found = original.count(entry.old)
        verdict: dict[str, Any] = {
            "name": entry.name,
            "path": entry.path,
            "protects": entry.protects,
        }
        if found != 1:
            verdicts.append(verdict | {"status": f"text found {found} times, not once"})
            continue
        path.write_text(original.replace(entry.old, entry.new))
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-xq", "-p", "no:cacheprovider", *entry.tests],
                cwd=work,
                capture_output=True,
                env=_clean_env(),
                timeout=600,
            )
            status = {0: "survived", 1: "killed"}.get(done.returncode, f"error {done.returncode}")
        except subprocess.TimeoutExpired:
            status = "timeout"
        finally:
            path.write_text(original)
        seconds = round(time.monotonic() - started, 1)
        verdicts.append(verdict | {"status": status, "seconds": seconds})
        print(f"  {status:>9}  {entry.name}")
    return verdicts


def summarise(
    mutants: list[dict[str, Any]], modules: tuple[Module, ...], baseline: dict[str, Any]
) -> dict[str, Any]:
    listed: dict[str, Any] = baseline.get("survivors", {})
    summary: dict[str, Any] = {}
    for module in modules:
        own = [m for m in mutants if m["module"] == module.path]
        killed = sum(m["status"] in _DETECTED for m in own)
        equivalent = sum(
            m["status"] not in _DETECTED and listed.get(m["key"], {}).get("kind") == "equivalent"
            for m in own
        )
        counted = len(own) - equivalent
        summary[module.path] = {
            "mutants": len(own),
            "killed": killed,
            "equivalent": equivalent,
            "survived": len(own) - killed - equivalent,
            "score": round(killed / counted, 4) if counted else 1.0,
        }
    return summary


def run_module(module: Module, args: argparse.Namespace) -> dict[str, Any]:
    """mutmut and the named mutants on one module, in a fresh copy, with that module's tests."""
    started = time.monotonic()
    entries = tuple(e for e in CATALOGUE if e.path == module.path)
    work = Path(tempfile.mkdtemp(prefix="agentflow-mutation-"))
    try:
        copy_tree(work)
        configure(work, (module,))
        log = work / "mutmut.log"
        print(f"{module.path}: mutmut in {work} ({args.jobs} jobs), log: {log}")
        # First call: generate every mutant and map tests to functions, running one mutant.
        run_mutmut(work, first_mutants(work, module), args.jobs, log)
        mutants = read_mutants(work, (module,))
        chosen = [
            m["mutant"] for m in mutants if m["kind"] == "logic" and _sampled(m["key"], args.sample)
        ]
        print(f"  {len(mutants)} in scope; running {len(chosen)} (logic, sample {args.sample})")
        if chosen:  # an empty list would make mutmut run every mutant
            run_mutmut(work, chosen, args.jobs, log)
        picked = set(chosen)
        mutants = [m for m in read_mutants(work, (module,)) if m["mutant"] in picked]
        print(f"  catalogue: {len(entries)} named mutant(s)")
        catalogue = run_catalogue(work, entries)
    finally:
        if args.keep:
            print(f"  kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "mutants": mutants,
        "catalogue": catalogue,
        "seconds": round(time.monotonic() - started),
    }


def run(args: argparse.Namespace) -> None:
    """Each module alone, one after the other; ``--only`` keeps the other modules' results."""
    modules = tuple(m for m in MODULES if not args.only or m.path in args.only)
    unknown = set(args.only or ()) - {m.path for m in MODULES}
    if unknown:
        raise SystemExit(f"not in bench/mutation/scope.py: {', '.join(sorted(unknown))}")
    baseline = _load(BASELINE)
    old = _load(RESULTS)
    if old.get("sample") != args.sample or not args.only:
        old = {}
    done = {m.path for m in modules}
    rows: dict[str, Any] = {p: r for p, r in old.get("modules", {}).items() if p not in done}
    survivors = [s for s in old.get("survivors", []) if s["module"] not in done]
    catalogue = [v for v in old.get("catalogue", []) if v.get("path") not in done]
    failed: list[str] = []
    for module in modules:
        try:
            result = run_module(module, args)
        except SystemExit as exc:  # mutmut failed on this module: the others still run
            print(f"  {module.path}: {exc}")
            failed.append(module.path)
            continue
        rows |= summarise(result["mutants"], (module,), baseline)
        rows[module.path]["seconds"] = result["seconds"]
        survivors += [m for m in result["mutants"] if m["status"] not in _DETECTED]
        catalogue += result["catalogue"]
    order = [m.path for m in MODULES]
    results = {
        "seconds": sum(row.get("seconds", 0) for row in rows.values()),
        "jobs": args.jobs,
        "sample": args.sample,
        "modules": {p: rows[p] for p in order if p in rows},
        "survivors": sorted(survivors, key=lambda s: (order.index(s["module"]), s["key"])),
        "catalogue": sorted(catalogue, key=lambda v: (order.index(v["path"]), v["name"])),
    }
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    _print_table(results)
    print(f"wrote {RESULTS.relative_to(ROOT)}: {results['seconds']} s of mutation runs")
    if failed:
        raise SystemExit(f"mutmut failed on {', '.join(failed)}: no results for it")


def _print_table(results: dict[str, Any]) -> None:
    print(
        f"{'module':<32} {'mutants':>7} {'killed':>6} {'equiv':>5} {'alive':>5} {'score':>6} "
        f"{'seconds':>7}"
    )
    for path, row in results["modules"].items():
        print(
            f"{path:<32} {row['mutants']:>7} {row['killed']:>6} {row['equivalent']:>5} "
            f"{row['survived']:>5} {row['score']:>6.1%} {row.get('seconds', 0):>7}"
        )


# -- checking -----------------------------------------------------------------------------------


def problems(results: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """Why ``results`` is worse than ``baseline`` (empty: it is not)."""
    found: list[str] = []
    if results.get("sample") != baseline.get("sample", results.get("sample")):
        return [f"results of sample {results.get('sample')}, baseline of {baseline['sample']}"]
    listed: dict[str, Any] = baseline.get("survivors", {})
    for path in [m.path for m in MODULES if m.path not in results["modules"]]:
        found.append(f"{path}: no results (run it: python -m bench.mutation run --only {path})")
    judged = {verdict["name"] for verdict in results["catalogue"]}
    for entry in CATALOGUE:
        if entry.name not in judged:
            found.append(f"named mutant {entry.name}: not run")
    # Scored with the baseline's equivalents, whenever they were written.
    for path, row in summarise_from(results, listed).items():
        before = baseline.get("modules", {}).get(path)
        if before is not None and row["score"] < before["score"]:
            found.append(f"{path}: score {row['score']:.2%} < baseline {before['score']:.2%}")
    for survivor in results["survivors"]:
        if survivor["key"] not in listed:
            found.append(f"new survivor ({survivor['status']}): {survivor['key']}")
    for key, note in listed.items():
        if not str(note.get("why", "")).strip():
            found.append(f"baseline survivor without a reason: {key}")
    for verdict in results["catalogue"]:
        if verdict["status"] != "killed":
            found.append(f"named mutant {verdict['name']}: {verdict['status']}")
    return found


def check(_: argparse.Namespace) -> None:
    if not RESULTS.is_file():
        raise SystemExit(f"no {RESULTS.relative_to(ROOT)}: run `make mutation` first")
    found = problems(_load(RESULTS), _load(BASELINE))
    for problem in found:
        print(f"FAIL {problem}")
    if found:
        raise SystemExit(f"{len(found)} problem(s) against {BASELINE.relative_to(ROOT)}")
    print(f"mutation results hold against {BASELINE.relative_to(ROOT)}")


def accept(_: argparse.Namespace) -> None:
    """Write the baseline from the results, keeping the reasons already given."""
    baseline = accept_rows(_load(RESULTS), _load(BASELINE))
    BASELINE.write_text(json.dumps(baseline, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {BASELINE.relative_to(ROOT)}")


def accept_rows(results: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The baseline ``results`` make: ``old``'s reasons kept, new survivors listed as gaps."""
    listed: dict[str, Any] = old.get("survivors", {})
    survivors = {
        s["key"]: listed.get(s["key"], {"kind": "gap", "why": ""}) for s in results["survivors"]
    }
    return {
        "sample": results["sample"],
        "seconds": results.get("seconds"),
        "modules": summarise_from(results, survivors),
        "survivors": dict(sorted(survivors.items())),
    }


def summarise_from(results: dict[str, Any], survivors: dict[str, Any]) -> dict[str, Any]:
    """The results' module rows, scored with ``survivors``' equivalents."""
    rows: dict[str, Any] = {}
    for path, row in results["modules"].items():
        equivalent = sum(
            s["module"] == path and survivors.get(s["key"], {}).get("kind") == "equivalent"
            for s in results["survivors"]
        )
        counted = row["mutants"] - equivalent
        score = round(row["killed"] / counted, 4) if counted else 1.0
        rows[path] = {"mutants": row["mutants"], "equivalent": equivalent, "score": score}
    return rows


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mutation", description=__doc__)
    commands = parser.add_subparsers(required=True)
    run_parser = commands.add_parser("run", help="mutate, test, write results.json")
    run_parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    run_parser.add_argument("--only", action="append", help="a module path (repeatable)")
    run_parser.add_argument("--keep", action="store_true", help="keep the working copy")
    run_parser.add_argument(
        "--sample", type=float, default=1.0, help="fraction of the logic mutants to run"
    )
    run_parser.set_defaults(command=run)
    commands.add_parser("check", help="compare results.json with the baseline").set_defaults(
        command=check
    )
    commands.add_parser("accept", help="write the baseline from results.json").set_defaults(
        command=accept
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress in a log
    args.command(args)


if __name__ == "__main__":
    main()
