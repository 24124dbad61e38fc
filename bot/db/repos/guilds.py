"""Queries on guild settings (what `/guarantee setup` chose)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import GuildConfig
from bot.db.repos import batch as batches


async def get(*, session: AsyncSession, guild_id: int) -> GuildConfig | None:
    batch = batches.of(session)
    if batch is not None and guild_id in batch.configs:  # read with the batch of events this session applies
        return batch.configs[guild_id]
    return await session.get(GuildConfig, guild_id)


async def with_log_channel(*, session: AsyncSession) -> Sequence[GuildConfig]:
    """Every server whose settings name a log channel, by id."""
    query = select(GuildConfig).where(col(GuildConfig.log_channel_id).is_not(None)).order_by(col(GuildConfig.guild_id))
    return (await session.scalars(query)).all()
