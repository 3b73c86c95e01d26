"""Optional parts and the extras that install them, so a missing one is one clear line.

``pip install agentflow`` is the core: tools, preconditions, the loop, agents run in-process,
the test models, the CLI's own commands (``init``, ``eval``). Each integration comes with an
extra, and the first import of a module that needs one checks it is there::

    audit      the audit trail (OpenTelemetry SDK, SQLModel, Alembic)
    temporal   durable conversations and approvals on Temporal (implies audit)
    local      the embedded Temporal server for ``agentflow dev`` (implies temporal)
    anthropic  Claude through the anthropic SDK
    openai     OpenAI's Chat Completions and compatible gateways
    mcp        tools served by MCP servers
    slack      approvals in Slack (implies temporal)
    web        the web app: approvals inbox, timelines, sign-in, Slack's endpoint (implies slack)
    postgres   PostgreSQL for the application's tables and the audit store
    otlp       exporting traces over OTLP/HTTP

``pip install 'agentflow[local,anthropic]'`` combines them; ``all`` is every one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from agentflow.exceptions import ConfigurationError

__all__ = ["EXTRAS", "MissingExtra", "installed", "require"]

_AUDIT = ("opentelemetry.sdk", "sqlmodel", "sqlalchemy", "alembic")
_TEMPORAL = ("temporalio", "pydantic_settings", "filelock", *_AUDIT)

EXTRAS: dict[str, tuple[str, ...]] = {
    "audit": _AUDIT,
    "temporal": _TEMPORAL,
    "local": _TEMPORAL,  # and the temporal binary, which temporal_cli_path() looks for
    "anthropic": ("anthropic",),
    "openai": ("openai",),
    "mcp": ("mcp",),
    "slack": ("slack_sdk", "aiohttp", *_TEMPORAL),
    "web": (
        "starlette",
        "uvicorn",
        "jinja2",
        "multipart",
        "itsdangerous",
        "authlib",
        "joserfc",
        "httpx",
        "slack_sdk",  # the web app also serves Slack's interactivity endpoint
        "aiohttp",
        *_TEMPORAL,
    ),
    "postgres": ("psycopg",),
    "otlp": ("opentelemetry.exporter.otlp.proto.http",),
}
"""Each extra, and the modules whose presence says it is installed."""


class MissingExtra(ConfigurationError, ImportError):
    """A part of agentflow was used whose extra is not installed; the message says which."""


def _present(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing anything.

    Not even its parent package: workflow code checks ``temporal`` and must load no OpenTelemetry.
    """
    top, _, rest = module.partition(".")
    try:
        spec = importlib.util.find_spec(top)
    except ImportError:
        return False
    if spec is None:
        return False
    if not rest:
        return True
    *folders, last = rest.split(".")
    return any(
        Path(location, *folders, last).is_dir() or Path(location, *folders, f"{last}.py").is_file()
        for location in spec.submodule_search_locations or ()
    )


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [module for module in EXTRAS[extra] if not _present(module)]


def installed(extra: str) -> bool:
    """Whether every module ``extra`` installs is there."""
    return not missing(extra)


def require(extra: str, feature: str, *, probe: tuple[str, ...] = ()) -> None:
    """Raise `MissingExtra` naming ``extra`` unless it is installed.

    Args:
        extra: the extra's name (a key of `EXTRAS`).
        feature: what needs it, as the user knows it (``agentflow.temporal``, ``agentflow dev``).
        probe: top-level modules whose presence is enough to tell (checked without touching the
            file system, as Temporal's workflow sandbox requires); default: all of the extra's.
    """
    if probe and all(_present(module) for module in probe):
        return
    absent = missing(extra)
    if absent:
        raise MissingExtra(
            f"{feature} needs agentflow's {extra!r} extra: pip install 'agentflow[{extra}]' "
            f"(missing: {', '.join(absent)})"
        )
