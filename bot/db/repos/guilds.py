"""Queries on guild settings (what `/guarantee setup` chose)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import GuildConfig
from bot.db.repos import batch as batches


async def get(*, session: AsyncSession, guild_id: int) -> GuildConfig | None:
    batch = batches.of(session)
    if batch is not None and guild_id in batch.configs:  # read with the batch of events this session applies
        return batch.configs[guild_id]
    return await session.get(GuildConfig, guild_id)
