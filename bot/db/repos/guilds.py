"""Queries on guild settings (what `/guarantee setup` chose)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import GuildConfig


async def get(*, session: AsyncSession, guild_id: int) -> GuildConfig | None:
    return await session.get(GuildConfig, guild_id)


async def with_log_channel(*, session: AsyncSession) -> Sequence[GuildConfig]:
    """Every server whose settings name a log channel, by id."""
    query = select(GuildConfig).where(col(GuildConfig.log_channel_id).is_not(None)).order_by(col(GuildConfig.guild_id))
    return (await session.scalars(query)).all()
