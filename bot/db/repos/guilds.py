"""Queries on guild settings (what `/guarantee setup` chose)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import GuildConfig


async def get(*, session: AsyncSession, guild_id: int) -> GuildConfig | None:
    return await session.get(GuildConfig, guild_id)
