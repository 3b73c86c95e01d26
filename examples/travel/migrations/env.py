"""Alembic's entry point for the travel app's script directory (run by ``prepare_store``)."""

from agentflow.migrations.runner import run_environment

run_environment()
