"""Suite-wide isolation of the process-wide agent registry.

A worker registers its agents by name in :mod:`agentflow.temporal.registry`, and refuses a
second, different agent under a name already taken: right for a worker process, wrong for a
test process in which many modules each build their own ``travel`` agent. Each module, and each
test, gets back the registry it started with.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentflow.temporal import registry


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
