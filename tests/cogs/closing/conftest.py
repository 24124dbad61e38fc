"""The project's bot in the fake Discord, with a ticket channel full of messages to read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord
import pytest
from discord.ext.test import backend, factories

from tests.harness._world import DiscordEnv
from tests.harness.plugin import MakeEnv


@pytest.fixture
async def env(make_discord_env: MakeEnv) -> DiscordEnv:
    env = await make_discord_env()
    # The test works its own events (tests/services/closing/world.py), one step after another.
    await env.bot.runtime.processor.close()  # type: ignore[attr-defined]
    return env


def stored_message(
    channel: discord.TextChannel,
    author: discord.abc.User,
    content: str,
    *,
    mentions: Sequence[discord.abc.User] = (),
    role_ids: Sequence[int] = (),
    embeds: Sequence[discord.Embed] = (),
    attachments: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A message as Discord holds it in the channel (not dispatched to the bot: history reads the store)."""
    data = factories.make_message_dict(
        channel, author, content=content, mentions=list(mentions), mention_roles=list(role_ids), embeds=list(embeds)
    )
    data["attachments"] = list(attachments)
    data["timestamp"] = discord.utils.snowflake_time(int(data["id"])).isoformat()
    backend._cur_config.messages.setdefault(channel.id, []).append(data)
    return data
