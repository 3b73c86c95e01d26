"""The example tests run the travel agent on the same real Temporal server as tests/temporal."""

from tests.temporal.conftest import dev_server

__all__ = ["dev_server"]
