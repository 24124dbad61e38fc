"""The marketplace-facing HTTP server (aiohttp)."""

from webhooks.app import create_app

__all__ = ["create_app"]
