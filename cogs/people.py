"""People and roles as Discord shows them, turned into what the services decide with.

The officer rule itself lives in `bot.services.guilds`; here a member becomes an `Actor` (their
roles as the interaction carried them, and the id of the server's role named
`OFFICER_ROLE_NAME`), and a server's officer role is found for pings and permissions.
"""

from __future__ import annotations

import discord

from bot.services.guilds import Actor, officer_role_id


def named_officer_role(guild: discord.Guild, role_name: str) -> discord.Role | None:
    """The server's role named `OFFICER_ROLE_NAME` (the first one, by position), if it has one."""
    return discord.utils.get(guild.roles, name=role_name)


def actor_of(user: discord.abc.User, role_name: str) -> Actor:
    """A person as the services see them: in a server, with the roles Discord sent along."""
    if not isinstance(user, discord.Member):
        return Actor(user.id)
    named = named_officer_role(user.guild, role_name)
    return Actor(
        user_id=user.id,
        guild_id=user.guild.id,
        role_ids=frozenset(role.id for role in user.roles),
        named_officer_role_id=named.id if named is not None else None,
    )


def officer_role(guild: discord.Guild, chosen_role_id: int | None, role_name: str) -> discord.Role | None:
    """The live officer role of `guild`: the one `/guarantee setup` chose, else the one named in the settings."""
    named = named_officer_role(guild, role_name)
    role_id = officer_role_id(chosen_role_id, named.id if named is not None else None)
    return guild.get_role(role_id) if role_id is not None else None


def lacking_permissions(guild: discord.Guild) -> list[str]:
    """What the bot misses in `guild` to open tickets (nothing for an administrator)."""
    perms = guild.me.guild_permissions
    if perms.administrator:
        return []
    wanted = (("Manage Channels", perms.manage_channels), ("Manage Roles", perms.manage_roles))
    return [label for label, ok in wanted if not ok]


def can_pin(guild: discord.Guild) -> bool:
    """Whether the bot may pin a ticket's summary (Pin Messages; Manage Messages still allows it too)."""
    perms = guild.me.guild_permissions
    return perms.administrator or perms.pin_messages or perms.manage_messages
