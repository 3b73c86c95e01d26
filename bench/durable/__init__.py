"""Durable-mode benchmark: agent frameworks on Temporal, against Temporal's own floor.

``python -m bench.durable.run`` starts one in-memory dev server, runs each variant's worker in
its own subprocess, drives conversations from the parent process and prints a table; see
:mod:`bench.durable.run`.
"""
