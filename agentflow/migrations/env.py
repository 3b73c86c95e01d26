"""Alembic's entry point for agentflow's script directory: see `upgrade`."""

from agentflow.migrations.runner import run_environment

run_environment()
