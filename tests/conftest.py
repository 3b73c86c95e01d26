"""Suite-wide isolation of the process-wide agent registry, and the suite's vote keys.

A worker registers its agents by name in :mod:`agentflow.temporal.registry`, and refuses a
second, different agent under a name already taken: right for a worker process, wrong for a
test process in which many modules each build their own ``travel`` agent. Each module, and each
test, gets back the registry it started with.

Approval desks sign votes and workers verify them with the keys in ``AGENTFLOW_VOTE_KEYS``;
the suite holds one random key, as a deployment would, so every desk, client and worker (and
every command a test runs) agrees on it. Tests of unsigned and forged votes say so explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from agentflow.approvals.signing import VOTE_KEYS_ENV, VoteKeys
from agentflow.temporal import registry

os.environ.setdefault(VOTE_KEYS_ENV, VoteKeys.generate("suite").to_env())


def _restoring_registry() -> Iterator[None]:
    saved = dict(registry._agents)  # pyright: ignore[reportPrivateUsage]
    yield
    registry._agents.clear()  # pyright: ignore[reportPrivateUsage]
    registry._agents.update(saved)  # pyright: ignore[reportPrivateUsage]


@pytest.fixture(autouse=True, scope="module")
def _module_registry() -> Iterator[None]:
    yield from _restoring_registry()


@pytest.fixture(autouse=True)
def _test_registry() -> Iterator[None]:
    yield from _restoring_registry()
