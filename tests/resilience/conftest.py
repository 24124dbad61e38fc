"""The webhook app fixtures (real intake, verifier, database) from tests/webhooks."""

from tests.webhooks.conftest import client, intake, runtime

__all__ = ["client", "intake", "runtime"]
