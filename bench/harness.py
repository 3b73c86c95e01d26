"""Common protocol for the per-step overhead benchmark.

Every bench module (``bench/agentflow_bench.py``, ``bench/peers/*_bench.py``) drives the same
scripted conversation through its framework with a zero-latency fake model:

    model call 1 -> search_flights(origin="ZRH", dest="JFK", date="2026-12-01")
    model call 2 -> check_policy(flight_id="LX14", price=820.0)
    model call 3 -> book_flight(flight_id="LX14")
    model call 4 -> final text "Booked LX14."

i.e. 4 model calls + 3 tool calls = 7 steps. A bench module must:

* time its framework imports at the top of the module and store the seconds in ``IMPORT_S``
  (and may set ``VERSION``; otherwise it is passed to :func:`main` or looked up by distribution
  name);
* build its agent once, at import time or lazily, not per run;
* in the body of the fake model function and of each tool, measure its own time with
  ``time.perf_counter_ns()`` and account for it on :data:`METER`::

      t0 = perf_counter_ns()
      ...                                   # the body
      METER.model_calls += 1                # or METER.tool_calls += 1 (after the tool succeeded)
      METER.inside_ns += perf_counter_ns() - t0

* expose ``async def run_once() -> tuple[int, int]`` that runs ONE conversation and returns
  ``(wall_ns, inside_ns)``, where ``wall_ns`` is the wall time of the whole run and
  ``inside_ns`` is ``METER.inside_ns`` (the harness resets :data:`METER` before each run);
* end with ``if __name__ == "__main__": main(run_once, "<name>")``.

:func:`main` refuses to report anything unless every run made exactly 4 model calls and
3 (successful) tool calls. This module imports only the standard library so that it does not
pre-import anything a framework import would otherwise pay for.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sys
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

STEPS = 7
EXPECTED_MODEL_CALLS = 4
EXPECTED_TOOL_CALLS = 3
DEFAULT_WARMUP = 50
DEFAULT_REPEATS = 500

# --------------------------------------------------------------------------------------------
# The scripted conversation, shared by every bench so that all of them do the same work.
# --------------------------------------------------------------------------------------------

PROMPT = "Book me a flight from ZRH to JFK on 2026-12-01 that is within travel policy."
FINAL_TEXT = "Booked LX14."
FLIGHTS: tuple[dict[str, Any], ...] = (
    {"flight_id": "LX14", "carrier": "SWISS", "depart": "2026-12-01T13:05", "price": 820.0},
    {"flight_id": "UA53", "carrier": "United", "depart": "2026-12-01T10:20", "price": 905.5},
    {"flight_id": "DL41", "carrier": "Delta", "depart": "2026-12-01T16:45", "price": 1012.0},
)
# (tool name, arguments) the fake model asks for after seeing N tool results; N == 3 -> final.
SCRIPT: tuple[tuple[str, dict[str, Any]], ...] = (
    ("search_flights", {"origin": "ZRH", "dest": "JFK", "date": "2026-12-01"}),
    ("check_policy", {"flight_id": "LX14", "price": 820.0}),
    ("book_flight", {"flight_id": "LX14"}),
)
# The same arguments as the JSON text a provider would send.
SCRIPT_JSON: tuple[tuple[str, str], ...] = tuple((n, json.dumps(a)) for n, a in SCRIPT)
# Token usage every fake model reports, so that no framework falls back to estimating it.
USAGE_IN = 50
USAGE_OUT = 10


def search_flights(origin: str, dest: str, date: str) -> list[dict[str, Any]]:
    """Tool body: check the validated arguments and return three flights."""
    if (origin, dest, date) != ("ZRH", "JFK", "2026-12-01"):
        raise AssertionError(f"search_flights got {origin!r}, {dest!r}, {date!r}")
    return [dict(f) for f in FLIGHTS]


def check_policy(flight_id: str, price: float) -> dict[str, Any]:
    """Tool body: the price must arrive as a float (validated/coerced by the framework)."""
    if flight_id != "LX14" or type(price) is not float or price != 820.0:
        raise AssertionError(f"check_policy got {flight_id!r}, {price!r}")
    return {"in_policy": True}


def book_flight(flight_id: str) -> dict[str, Any]:
    """Tool body: book the flight."""
    if flight_id != "LX14":
        raise AssertionError(f"book_flight got {flight_id!r}")
    return {"booking_id": "B1"}


class Meter:
    """Per-run accumulators, updated from inside the fake model and tool bodies."""

    __slots__ = ("inside_ns", "model_calls", "tool_calls")

    def __init__(self) -> None:
        self.inside_ns = 0
        self.model_calls = 0
        self.tool_calls = 0

    def reset(self) -> None:
        self.inside_ns = 0
        self.model_calls = 0
        self.tool_calls = 0


METER = Meter()

RunOnce = Callable[[], Awaitable[tuple[int, int]]]


class BenchError(AssertionError):
    pass


async def _measure(run_once: RunOnce, warmup: int, repeats: int) -> list[float]:
    overheads_ns: list[float] = []
    for i in range(warmup + repeats):
        METER.reset()
        wall_ns, inside_ns = await run_once()
        if METER.model_calls != EXPECTED_MODEL_CALLS or METER.tool_calls != EXPECTED_TOOL_CALLS:
            raise BenchError(
                f"run {i} made {METER.model_calls} model calls and {METER.tool_calls} successful "
                f"tool calls; expected {EXPECTED_MODEL_CALLS} and {EXPECTED_TOOL_CALLS} "
                "(count them on bench.harness.METER from inside the bodies)"
            )
        if not 0 < inside_ns < wall_ns:
            raise BenchError(f"run {i}: inside_ns={inside_ns} not within wall_ns={wall_ns}")
        if i == warmup - 1:
            gc.collect()
        if i >= warmup:
            overheads_ns.append((wall_ns - inside_ns) / STEPS)
    return overheads_ns


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 1]) of an already sorted list."""
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _resolve_version(run_once: RunOnce, name: str, version: str | None) -> str:
    if version:
        return version
    module = sys.modules.get(getattr(run_once, "__module__", ""), None)
    module_version = getattr(module, "VERSION", None)
    if module_version:
        return str(module_version)
    try:
        return metadata.version(name.split("+")[0])
    except metadata.PackageNotFoundError:
        return "unknown"


def _resolve_import_s(run_once: RunOnce, import_s: float | None) -> float | None:
    if import_s is not None:
        return import_s
    module = sys.modules.get(getattr(run_once, "__module__", ""), None)
    value = getattr(module, "IMPORT_S", None)
    return float(value) if value is not None else None


def main(
    run_once: RunOnce,
    name: str,
    *,
    version: str | None = None,
    import_s: float | None = None,
) -> None:
    """Warm up, measure, verify and print one JSON result line to stdout.

    ``BENCH_REPEATS`` (default 500) and ``BENCH_WARMUP`` (default 50) control the run counts.
    """
    warmup = int(os.environ.get("BENCH_WARMUP", DEFAULT_WARMUP))
    repeats = int(os.environ.get("BENCH_REPEATS", DEFAULT_REPEATS))
    if repeats < 1:
        raise SystemExit("BENCH_REPEATS must be >= 1")
    overheads_ns = sorted(asyncio.run(_measure(run_once, warmup, repeats)))
    import_value = _resolve_import_s(run_once, import_s)
    result = {
        "name": name,
        "p50_step_us": round(_percentile(overheads_ns, 0.50) / 1000, 3),
        "p90_step_us": round(_percentile(overheads_ns, 0.90) / 1000, 3),
        "import_s": round(import_value, 4) if import_value is not None else None,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "version": _resolve_version(run_once, name, version),
        "repeats": repeats,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
