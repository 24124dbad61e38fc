"""Guarantor: escrow tickets on Discord for OpenTaskAI marketplace orders.

`from bot import create_bot` still works, lazily: importing `bot` (or any of its services)
loads neither discord.py nor aiohttp; the Discord side lives in `cogs/`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cogs.client import GuarantorBot, create_bot

__all__ = ["GuarantorBot", "create_bot"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cogs import client

        return getattr(client, name)
    raise AttributeError(f"module 'bot' has no attribute {name!r}")
