"""The ``agentflow`` command line."""

from agentflow.cli.main import app

__all__ = ["app"]
