"""The README's terminal capture: rendered verbatim, and the committed one is the demo's."""

from __future__ import annotations

import html
import importlib.util
import re
from pathlib import Path
from types import ModuleType

from examples.travel.demo import SCRIPT

ROOT = Path(__file__).resolve().parents[2]
SVG = ROOT / "docs" / "assets" / "demo.svg"


def capture_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("capture_demo", SVG.with_name("capture_demo.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def svg_lines(svg: str) -> list[str]:
    """The terminal's text, line by line, as the SVG draws it."""
    lines: dict[int, str] = {}
    for number, text in re.findall(
        r'<text [^>]*clip-path="url\(#[\w-]+-line-(\d+)\)"[^>]*>([^<]*)</text>', svg
    ):
        lines[int(number)] = lines.get(int(number), "") + html.unescape(text).replace("\xa0", " ")
    return [lines[n].rstrip() for n in sorted(lines)]


def test_render_keeps_the_text_and_colours_and_escapes_markup(tmp_path: Path) -> None:
    target = tmp_path / "out.svg"
    capture_module().render("\x1b[32mbooked\x1b[0m <b>[bold]not markup[/]</b>\n", target)
    svg = target.read_text()
    assert svg_lines(svg) == ["$ make demo DEMO_SCRIPT=1", "booked <b>[bold]not markup[/]</b>"]
    assert "&lt;b&gt;" in svg and "<b>" not in svg


def test_the_committed_capture_shows_the_scripted_demo() -> None:
    lines = svg_lines(SVG.read_text())
    assert lines[0] == "$ make demo DEMO_SCRIPT=1"
    assert lines[1] == "No ANTHROPIC_API_KEY: running on the offline travel planner."
    said = [line.removeprefix("alice: ") for line in lines if line.startswith("alice: ")]
    assert said == list(SCRIPT)
    text = "\n".join(lines)
    for shown in (
        "Waiting for approval before running book_flight. I'll let you know when bob decides.",
        "approval request for bob",
        "bob denied (economy is fine for a short flight).",
        "In-policy alternatives for the same trip:",
        "Booking #2.",
    ):
        assert shown in text, shown


def test_the_readme_and_the_quickstart_show_it() -> None:
    assert "![make demo DEMO_SCRIPT=1](docs/assets/demo.svg)" in (ROOT / "README.md").read_text()
    quickstart = (ROOT / "docs" / "quickstart.md").read_text()
    assert "![make demo DEMO_SCRIPT=1](assets/demo.svg)" in quickstart
