"""Servers: what `/guarantee setup` chose for each one, and who counts as a Guarantor Officer there.

The officer rule is written once, here: the role `/guarantee setup` chose, else the server's
role named `OFFICER_ROLE_NAME` (the adapters resolve that name to an id, `Actor.named_officer_role_id`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import GuildConfig
from bot.db.repos import guilds as guild_repo
from bot.db.types import utcnow


@dataclass(frozen=True, slots=True)
class Actor:
    """A person as an interaction shows them: who, in which server, holding which roles.

    Adapters build it from what Discord sent; services decide from it (and the database) what
    the person may do, in the same session as the rest of the request.
    """

    user_id: int
    guild_id: int | None = None
    role_ids: frozenset[int] = frozenset()
    named_officer_role_id: int | None = None  # the server's role named OFFICER_ROLE_NAME, if it has one


def officer_role_id(chosen: int | None, named: int | None) -> int | None:
    """The server's officer role: the one `/guarantee setup` chose, else the one with the configured name."""
    return chosen if chosen is not None else named


def chosen_officer_role(config: GuildConfig | None) -> int | None:
    return config.officer_role_id if config is not None else None


async def config_of(session: AsyncSession, guild_id: int | None) -> GuildConfig | None:
    return None if guild_id is None else await guild_repo.get(session=session, guild_id=guild_id)


async def is_officer(session: AsyncSession, actor: Actor) -> bool:
    """Does `actor` hold this server's officer role?"""
    if actor.guild_id is None:
        return False
    config = await config_of(session, actor.guild_id)
    role_id = officer_role_id(chosen_officer_role(config), actor.named_officer_role_id)
    return role_id is not None and role_id in actor.role_ids


class GuildSettings:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, guild_id: int) -> GuildConfig | None:
        async with self._sessions() as session:
            return await config_of(session, guild_id)

    async def is_officer(self, actor: Actor) -> bool:
        async with self._sessions() as session:
            return await is_officer(session, actor)

    async def configure(
        self, *, guild_id: int, officer_role_id: int, category_id: int | None, log_channel_id: int | None, by: int
    ) -> GuildConfig:
        """Store the guild's choices; an option left out keeps its current value."""
        async with self._sessions.begin() as session:
            config = await config_of(session, guild_id)
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
