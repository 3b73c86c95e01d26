"""Record `make demo DEMO_SCRIPT=1` as it really runs and render it to docs/assets/demo.svg.

Re-run after changing the demo: ``.venv/bin/python docs/assets/capture_demo.py``. The output is
the demo's own, colours included; nothing is edited.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 100
COMMAND = "make demo DEMO_SCRIPT=1"


def capture() -> str:
    """The demo's stdout with its ANSI colours, as a terminal WIDTH columns wide shows it."""
    env = os.environ | {"DEMO_SCRIPT": "1", "COLUMNS": str(WIDTH), "FORCE_COLOR": "1"}
    env.pop("ANTHROPIC_API_KEY", None)  # the offline planner: the same conversation every time
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "examples.travel.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise SystemExit(f"the demo failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def render(output: str, path: Path) -> None:
    console = Console(record=True, width=WIDTH, file=io.StringIO(), force_terminal=True)
    console.print(Text(f"$ {COMMAND}", style="bold"))
    console.print(Text.from_ansi(output.rstrip("\n")))
    console.save_svg(str(path), title=COMMAND)


if __name__ == "__main__":
    target = ROOT / "docs" / "assets" / "demo.svg"
    render(capture(), target)
    print(f"wrote {target.relative_to(ROOT)}")
