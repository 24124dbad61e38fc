"""How fast interactions are answered: every first answer (a reply, a deferral, a form) goes through
discord.py's `AsyncWebhookAdapter.create_interaction_response`, so one wrapper there times them all,
from the interaction's creation (its id is a snowflake: a timestamp) to the moment its answer is sent.

One bot runs per process; the wrapper reports to the bot that started last (`watch`), or to nobody."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import discord
from discord.webhook.async_ import AsyncWebhookAdapter

_observer: Callable[[float], None] | None = None


def watch(observe: Callable[[float], None] | None) -> None:
    """Report each acknowledgement's latency (seconds) to `observe` (None: to nobody)."""
    global _observer
    _observer = observe
    original = AsyncWebhookAdapter.create_interaction_response
    if getattr(original, "__wrapped__", None) is None:
        AsyncWebhookAdapter.create_interaction_response = _timed(original)  # type: ignore[method-assign]


def _timed(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_interaction_response(self: AsyncWebhookAdapter, interaction_id: int, *args: Any, **kwargs: Any) -> Any:
        if _observer is not None:
            age = discord.utils.utcnow() - discord.utils.snowflake_time(int(interaction_id))
            _observer(max(age.total_seconds(), 0.0))
        return original(self, interaction_id, *args, **kwargs)

    return create_interaction_response
