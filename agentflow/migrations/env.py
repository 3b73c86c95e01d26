"""Alembic's entry point for agentflow's script directory: see :func:`upgrade`."""

from agentflow.migrations.runner import run_environment

run_environment()
