"""Who is on the fake Discord: users, and each guild's members with their roles (the Discord side).

The bot runs with Discord's default intents, so it caches no member but its own: it learns about
people from what interactions carry and from the REST API (`fetch_member`, `fetch_user`). This
registry is what that API answers from and what the driver builds interaction payloads from;
the bot's cache never stands in for it.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from typing import Any

import discord
from discord.ext.test import factories

JsonDict = dict[str, Any]


class People:
    """Users by id and, per guild, member payloads as `GET /guilds/{guild}/members/{user}` returns them."""

    def __init__(self) -> None:
        self._users: dict[int, JsonDict] = {}
        self._members: dict[int, dict[int, JsonDict]] = {}
        self.closed_dms: set[int] = set()
        self.left_guilds: list[int] = []  # the guilds the bot left, in order

    # ---- changes (what happens on Discord, outside the bot) -------------------------------
    def add_user(self, name: str, discriminator: str, *, bot: bool = False, user_id: int = -1) -> JsonDict:
        data = factories.make_user_dict(name, discriminator, None, id_num=user_id)
        data["id"] = str(data["id"])
        data.update(bot=bot, global_name=None)
        self._users[int(data["id"])] = data
        return self.user(int(data["id"])) or {}

    def add_member(
        self, guild_id: int, user_id: int, *, roles: Iterable[int] = (), nick: str | None = None
    ) -> JsonDict:
        """Make a registered user a member of `guild_id`, with `roles` (ids, @everyone implied)."""
        if user_id not in self._users:
            raise LookupError(f"user {user_id} is not registered")
        self._members.setdefault(guild_id, {})[user_id] = {
            "roles": [int(r) for r in roles],
            "nick": nick,
            "joined_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        return self.member(guild_id, user_id) or {}

    def set_roles(self, guild_id: int, user_id: int, roles: Iterable[int]) -> None:
        self._entry(guild_id, user_id)["roles"] = [int(r) for r in roles]

    def remove_member(self, guild_id: int, user_id: int) -> None:
        self._members.get(guild_id, {}).pop(user_id, None)

    # ---- lookups (what the REST API answers) ----------------------------------------------
    def user(self, user_id: int) -> JsonDict | None:
        """The user object of `GET /users/{user_id}`, or None (Discord: 404, 10013 Unknown User)."""
        data = self._users.get(int(user_id))
        return copy.deepcopy(data) if data is not None else None

    def member(self, guild_id: int, user_id: int) -> JsonDict | None:
        """The member object of `GET /guilds/{guild_id}/members/{user_id}`, or None (404, 10007)."""
        entry = self._members.get(int(guild_id), {}).get(int(user_id))
        if entry is None:
            return None
        return {
            "user": self.user(user_id),
            "roles": [str(r) for r in entry["roles"]],
            "nick": entry["nick"],
            "avatar": None,
            "joined_at": entry["joined_at"],
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def member_ids(self, guild_id: int) -> list[int]:
        return list(self._members.get(int(guild_id), {}))

    def roles_of(self, guild_id: int, user_id: int) -> list[int]:
        return list(self._entry(guild_id, user_id)["roles"])

    def _entry(self, guild_id: int, user_id: int) -> JsonDict:
        entry = self._members.get(int(guild_id), {}).get(int(user_id))
        if entry is None:
            raise LookupError(f"user {user_id} is not a member of guild {guild_id}")
        return entry

    # ---- objects, as a bot receives them --------------------------------------------------
    def member_object(self, guild: discord.Guild, user_id: int) -> discord.Member | None:
        """A `discord.Member` built from this registry (not cached by the bot), or None if not a member."""
        data = self.member(guild.id, user_id)
        return discord.Member(data=data, guild=guild, state=guild._state) if data is not None else None  # type: ignore[arg-type]

    def user_object(self, state: Any, user_id: int) -> discord.User | None:
        data = self.user(user_id)
        return discord.User(state=state, data=data) if data is not None else None  # type: ignore[arg-type]
