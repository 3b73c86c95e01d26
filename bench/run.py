"""Run every overhead benchmark in its own subprocess and print a comparison table.

Usage (from the repository root)::

    .venv/bin/python -m bench.run [--repeats N] [--only NAME[,NAME...]] [--timeout S] [--durable]

Each bench module prints one JSON line (see ``bench/harness.py``); the collected results are
printed as a table and written to ``bench/results.json``. The redaction benchmark
(``bench/redaction_bench.py``, ``--only redaction``) adds the audit trail's redaction
throughput in MB/s; the audit view benchmark (``bench/audit_view_bench.py``, ``--only
audit-view``) what ``agentflow trace`` and the timeline cost at a million records; the growth
benchmark (``bench/durable/growth.py``, ``--only growth``) the Temporal history of one
conversation at 7, 51 and 201 steps next to the bare-Temporal floor; the round-trips benchmark
(``bench/durable/round_trips.py``, ``--only round-trips``) the server's round trips, history and
CPU per conversation with read-only tools as local activities, next to the floor.
``--durable`` then also runs the durable-mode benchmark on Temporal (``python -m
bench.durable.run``, several minutes; tune it with ``BENCH_DURABLE_CONVERSATIONS`` and
``BENCH_DURABLE_SCALE``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = Path(__file__).resolve().parent / "results.json"
BASELINE = "agentflow"

# (name, module, extra argv)
BENCHES: list[tuple[str, str, list[str]]] = [
    (BASELINE, "bench.agentflow_bench", []),
    ("agentflow+provenance", "bench.agentflow_bench", ["--provenance"]),
    ("handwritten", "bench.peers.handwritten_bench", []),
    ("pydantic-ai", "bench.peers.pydantic_ai_bench", []),
    ("pydantic-ai+otel", "bench.peers.pydantic_ai_bench", ["--otel"]),
    ("openai-agents", "bench.peers.openai_agents_bench", []),
    ("langgraph", "bench.peers.langgraph_bench", []),
]

REDACTION = ("redaction", "bench.redaction_bench")
AUDIT_VIEW = ("audit-view", "bench.audit_view_bench")
GROWTH = ("growth", "bench.durable.growth")
ROUND_TRIPS = ("round-trips", "bench.durable.round_trips")

_MISSING_MODULE = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '([^']+)'")


def _module_file(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _classify_failure(stderr: str) -> str:
    """'not installed' when a missing top-level package caused the failure, else 'failed'."""
    match = _MISSING_MODULE.search(stderr)
    if match:
        top = match.group(1).split(".")[0]
        if top != "bench" and importlib.util.find_spec(top) is None:
            return "not installed"
    return "failed"


def run_bench(name: str, module: str, argv: list[str], env: dict[str, str], timeout: float) -> dict:
    entry: dict[str, Any] = {"name": name, "module": module, "argv": argv}
    if not _module_file(module).exists():
        entry.update(status="missing", error=f"{_module_file(module).relative_to(ROOT)} not found")
        return entry
    cmd = [sys.executable, "-m", module, *argv]
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        entry.update(status="failed", error=f"timed out after {timeout:.0f}s")
        return entry
    result = None
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            candidate = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(candidate, dict) and "p50_step_us" in candidate:
            result = candidate
            break
    if proc.returncode != 0 or result is None:
        detail = _tail(proc.stderr) or _tail(proc.stdout) or f"exit code {proc.returncode}"
        entry.update(status=_classify_failure(proc.stderr), error=detail)
        return entry
    entry.update(result)
    entry["name"] = name
    entry["status"] = "ok"
    return entry


def _ratio(entry: dict, baseline: dict | None) -> str:
    if entry.get("status") != "ok" or baseline is None or baseline.get("status") != "ok":
        return "n/a"
    base = baseline["p50_step_us"]
    return f"{entry['p50_step_us'] / base:.2f}x" if base else "n/a"


def _rows(entries: list[dict]) -> list[list[str]]:
    baseline = next((e for e in entries if e["name"] == BASELINE), None)
    rows = []
    for e in entries:
        if e.get("status") == "ok":
            import_s = e.get("import_s")
            rows.append(
                [
                    e["name"],
                    str(e.get("version", "?")),
                    f"{e['p50_step_us']:.1f}",
                    f"{e['p90_step_us']:.1f}",
                    _ratio(e, baseline),
                    f"{import_s:.2f}" if isinstance(import_s, int | float) else "?",
                    f"{e['peak_rss_mib']:.1f}",
                ]
            )
        else:
            status = "missing" if e["name"] == BASELINE else e["status"]
            rows.append([e["name"], "-", status, "-", "-", "-", "-"])
    return rows


HEADERS = [
    "framework",
    "version",
    "p50 µs/step",
    "p90 µs/step",
    f"ratio vs {BASELINE}",
    "import s",
    "peak RSS MiB",
]


def print_table(entries: list[dict], title: str) -> None:
    rows = _rows(entries)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
        print(title)
        print(
            "  ".join(
                h.ljust(w) if i < 2 else h.rjust(w)
                for i, (h, w) in enumerate(zip(HEADERS, widths, strict=True))
            )
        )
        print("  ".join("-" * w for w in widths))
        for r in rows:
            print(
                "  ".join(
                    c.ljust(w) if i < 2 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        return
    table = Table(title=title)
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if i < 2 else "right", no_wrap=i != 1)
    for r in rows:
        table.add_row(*r)
    Console(width=max(120, len(title))).print(table)


def run_redaction(
    env: dict[str, str], timeout: float, bench: tuple[str, str] = REDACTION, key: str = ""
) -> dict[str, Any]:
    """A JSON-line benchmark's result (the redaction one by default), or its failure."""
    name, module = bench
    key = key or "redaction_mb_per_s"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"name": name, "status": "failed", "error": f"timed out after {timeout:.0f}s"}
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            candidate = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(candidate, dict) and key in candidate:
            return {"name": name, "status": "ok", **candidate}
    detail = _tail(proc.stderr) or _tail(proc.stdout) or f"exit code {proc.returncode}"
    return {"name": name, "status": "failed", "error": detail}


def print_redaction(entry: dict[str, Any]) -> None:
    if entry.get("status") != "ok":
        print(f"redaction: {entry.get('error')}")
        return
    limit = entry.get("limit_chars")
    print(f"Audit redaction throughput (default Redactor, scans up to {limit:,} characters):")
    for corpus, rate in entry["redaction_mb_per_s"].items():
        print(f"  {corpus:<32} {rate:8.2f} MB/s")


def print_audit_view(entry: dict[str, Any]) -> None:
    if entry.get("status") != "ok":
        print(f"audit view: {entry.get('error')}")
        return
    print("Audit trail view (load a conversation and verify it from the last checkpoint):")
    for label, ms in entry["audit_view_ms"].items():
        print(f"  {label:<72} {ms:8.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "Run the benchmarks.").splitlines()[0])
    parser.add_argument("--repeats", type=int, help="runs per bench (env BENCH_REPEATS)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per bench (env BENCH_WARMUP)")
    parser.add_argument("--only", help="comma-separated bench names to run")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per bench")
    parser.add_argument(
        "--durable",
        action="store_true",
        help="also run the durable (Temporal) benchmark, bench/durable/run.py (slow)",
    )
    args = parser.parse_args()

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONHASHSEED", "0")
    if args.repeats is not None:
        env["BENCH_REPEATS"] = str(args.repeats)
    if args.warmup is not None:
        env["BENCH_WARMUP"] = str(args.warmup)
    selected = set(args.only.split(",")) if args.only else None

    entries = []
    for name, module, argv in BENCHES:
        if selected is not None and name not in selected:
            continue
        print(f"running {name} ({' '.join([module, *argv])})", file=sys.stderr, flush=True)
        entry = run_bench(name, module, argv, env, args.timeout)
        if entry["status"] != "ok":
            print(f"  {entry['status']}: {entry['error']}", file=sys.stderr, flush=True)
        entries.append(entry)

    redaction: dict[str, Any] | None = None
    if selected is None or REDACTION[0] in selected:
        print(f"running {REDACTION[0]} ({REDACTION[1]})", file=sys.stderr, flush=True)
        redaction = run_redaction(env, args.timeout)

    audit_view: dict[str, Any] | None = None
    if selected is None or AUDIT_VIEW[0] in selected:
        print(f"running {AUDIT_VIEW[0]} ({AUDIT_VIEW[1]})", file=sys.stderr, flush=True)
        audit_view = run_redaction(env, args.timeout, AUDIT_VIEW, "audit_view_ms")

    repeats = env.get("BENCH_REPEATS", "500")
    title = (
        f"Per-step framework overhead: 4 model calls + 3 tool calls, fake model, "
        f"{repeats} runs (Python {platform.python_version()})"
    )
    if entries:
        print_table(entries, title)
    if redaction is not None:
        print_redaction(redaction)
    if audit_view is not None:
        print_audit_view(audit_view)
    RESULTS_PATH.write_text(
        json.dumps(
            {
                "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "repeats": int(repeats),
                "baseline": BASELINE,
                "results": entries,
                "redaction": redaction,
                "audit_view": audit_view,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS_PATH.relative_to(ROOT)}", file=sys.stderr)
    for name, module in (GROWTH, ROUND_TRIPS):
        if selected is not None and name not in selected:
            continue
        print(f"running {name} ({module})", file=sys.stderr, flush=True)
        done = subprocess.run(
            [sys.executable, "-m", module], cwd=ROOT, env=env, timeout=args.timeout, check=False
        )
        if done.returncode != 0:
            print(f"  {name} failed (exit code {done.returncode})", file=sys.stderr)
    if args.durable:
        print("running the durable benchmark (bench.durable.run)", file=sys.stderr, flush=True)
        return subprocess.run(
            [sys.executable, "-m", "bench.durable.run"], cwd=ROOT, env=env, check=False
        ).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
