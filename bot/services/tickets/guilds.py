"""Per-guild settings chosen with `/guarantee setup`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import GuildConfig
from bot.db.repos import tickets as repo
from bot.db.types import utcnow


class GuildSettings:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, guild_id: int) -> GuildConfig | None:
        async with self._sessions() as session:
            return await repo.guild_config(session=session, guild_id=guild_id)

    async def configure(
        self, *, guild_id: int, officer_role_id: int, category_id: int | None, log_channel_id: int | None, by: int
    ) -> GuildConfig:
        """Store the guild's choices; an option left out keeps its current value."""
        async with self._sessions.begin() as session:
            config = await repo.guild_config(session=session, guild_id=guild_id)
            if config is None:
                config = GuildConfig(guild_id=guild_id)
                session.add(config)
            config.officer_role_id = officer_role_id
            if category_id is not None:
                config.category_id = category_id
            if log_channel_id is not None:
                config.log_channel_id = log_channel_id
            config.updated_by, config.updated_at = by, utcnow()
        return config
