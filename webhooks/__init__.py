"""The HTTP side: the marketplace-facing server (`create_app`: verify, validate, store, answer) and
the outbound callback poster (`callbacks`). Adapters only; the domain is in `bot.services`."""

from webhooks.app import create_app

__all__ = ["create_app"]
