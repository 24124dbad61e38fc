"""The fake Discord world a test runs in: the bot, two guilds, their members, and a restart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
import pytest
from discord.ext import commands
from discord.ext import test as dpytest
from discord.ext.test import backend, factories
from discord.webhook.async_ import AsyncWebhookAdapter

from tests.harness import _dpytest_fixes as fixes
from tests.harness import _server
from tests.harness._driver import InteractionDriver
from tests.harness._faults import Faults
from tests.harness._recorder import Recorder

BotFactory = Callable[[], commands.Bot]
ExtraSetup = Callable[[commands.Bot], Awaitable[None]]

P = discord.Permissions
BOT_PERMISSIONS = P(
    view_channel=True, send_messages=True, embed_links=True, read_message_history=True, attach_files=True,
    manage_channels=True, manage_roles=True, manage_messages=True, mention_everyone=True,
)  # fmt: skip
MEMBERS = ("admin", "freelancer", "buyer", "outsider", "officer", "officer_party")


class DiscordEnv:
    """One test's Discord: `bot`, `driver`, `faults`, `guild`, members by role, `other_guild`."""

    def __init__(self, factory: BotFactory, monkeypatch: pytest.MonkeyPatch, *, officer_role_name: str,
                 extra_setup: ExtraSetup | None = None) -> None:  # fmt: skip
        self._factory, self._extra_setup = factory, extra_setup
        self.officer_role_name = officer_role_name
        self.faults = Faults()
        self.recorder = Recorder(self.faults)
        self.ids: dict[str, int] = {}
        self.bot: commands.Bot = None  # type: ignore[assignment]
        self.driver: InteractionDriver = None  # type: ignore[assignment]
        fixes.reset_dpytest()
        fixes.apply(monkeypatch)
        recorder = self.recorder

        async def request(adapter: AsyncWebhookAdapter, route: Any, session: Any = None, **kwargs: Any) -> Any:
            return await recorder.request(route, session, **kwargs)

        monkeypatch.setattr(AsyncWebhookAdapter, "request", request)

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> DiscordEnv:
        self.bot = self._configure(self._factory())
        self._build()
        await self._setup()
        return self

    async def restart(self) -> commands.Bot:
        """Close the bot and start a new instance (same database, same Discord state), like a redeploy."""
        state = self.bot._connection
        user = factories.dict_from_user(state.user)
        guilds = [_guild_payload(guild) for guild in state.guilds]
        messages = backend._cur_config.messages
        await self._close_bot()
        self.bot = self._configure(self._factory(), user=user)
        backend._cur_config = backend._cur_config._replace(messages=messages)
        for payload in guilds:
            self.bot._connection.parse_guild_create(payload)
        await self._setup()
        return self.bot

    async def close(self) -> None:
        await self._close_bot()
        await dpytest.empty_queue()
        fixes.reset_dpytest()

    def _configure(self, bot: commands.Bot, user: dict[str, Any] | None = None) -> commands.Bot:
        intents = bot._connection._intents
        intents.members = True  # the fake guilds hand the bot their member lists
        bot._connection.member_cache_flags = discord.MemberCacheFlags.from_intents(intents)
        fixes.configure(bot, self.faults)
        if user is not None:
            state = bot._connection
            state.user = discord.ClientUser(state=state, data=user)
            state.application_id = state.user.id
        bot.tree._http = bot.http
        bot.tree._state = bot._connection
        self.driver = InteractionDriver(bot, self.recorder)
        return bot

    async def _setup(self) -> None:
        await self.bot._async_setup_hook()
        await self.bot.setup_hook()
        self.bot._ready.set()  # connected, guilds received: what Discord's READY means to discord.py
        if self._extra_setup is not None:
            await self._extra_setup(self.bot)
        await dpytest.run_all_events()

    async def _close_bot(self) -> None:
        if self.bot is not None and not self.bot.is_closed():
            await dpytest.run_all_events()
            self.bot.ws = None  # the fake websocket has no socket to close
            await self.bot.close()

    # ---- the world -------------------------------------------------------------------------
    def _build(self) -> None:
        state = self.bot._connection
        guild = backend.make_guild("Guarantor HQ")
        admin = _server.create_role(guild, name="Admin", permissions=P(manage_guild=True).value, position=1)
        officer = _server.create_role(guild, name=self.officer_role_name, position=2)
        me = _server.create_role(guild, name="Guarantor", permissions=BOT_PERMISSIONS.value, position=3)
        roles = {"admin": [admin], "officer": [officer], "officer_party": [officer]}
        for name in MEMBERS:
            user = backend.make_user(name, f"{len(self.ids) + 1:04}")
            backend.make_member(user, guild, roles=[guild.get_role(int(r["id"])) for r in roles.get(name, [])])
            self.ids[name] = user.id
        backend.make_member(state.user, guild, roles=[guild.get_role(int(me["id"]))])
        self.ids["guild"], self.ids["officer_role"] = guild.id, int(officer["id"])
        self.ids["channel"] = backend.make_text_channel("general", guild).id

        other = backend.make_guild("Elsewhere")
        other_officer = _server.create_role(other, name=self.officer_role_name, position=1)
        other_me = _server.create_role(other, name="Guarantor", permissions=BOT_PERMISSIONS.value, position=2)
        user = backend.make_user("stranger", "0099")
        backend.make_member(user, other, roles=[other.get_role(int(other_officer["id"]))])
        backend.make_member(state.user, other, roles=[other.get_role(int(other_me["id"]))])
        self.ids.update(
            other_guild=other.id, stranger=user.id, other_channel=backend.make_text_channel("lobby", other).id
        )

    @property
    def guild(self) -> discord.Guild:
        return self.bot.get_guild(self.ids["guild"])

    @property
    def other_guild(self) -> discord.Guild:
        return self.bot.get_guild(self.ids["other_guild"])

    def member(self, name: str) -> discord.Member:
        guild = self.other_guild if name == "stranger" else self.guild
        return guild.get_member(self.ids[name])

    def add_member(self, name: str, discriminator: str) -> discord.Member:
        """A new member of the main guild, with no role (e.g. one freelancer per order)."""
        user = backend.make_user(name, discriminator)
        backend.make_member(user, self.guild)
        member = self.guild.get_member(user.id)
        assert member is not None
        return member

    admin = property(lambda self: self.member("admin"))
    freelancer = property(lambda self: self.member("freelancer"))
    buyer = property(lambda self: self.member("buyer"))
    outsider = property(lambda self: self.member("outsider"))
    officer = property(lambda self: self.member("officer"))
    officer_party = property(lambda self: self.member("officer_party"))
    stranger = property(lambda self: self.member("stranger"))

    @property
    def officer_role(self) -> discord.Role:
        return self.guild.get_role(self.ids["officer_role"])

    @property
    def channel(self) -> discord.TextChannel:
        return self.guild.get_channel(self.ids["channel"])

    @property
    def other_channel(self) -> discord.TextChannel:
        return self.other_guild.get_channel(self.ids["other_channel"])

    # ---- things done by hand, outside the bot ----------------------------------------------
    async def delete_channel_by_hand(self, channel: discord.abc.GuildChannel) -> None:
        """Delete a channel as a server admin would: the bot gets `on_guild_channel_delete`, then 404s."""
        _server.delete_channel(channel)
        await dpytest.run_all_events()

    def close_dms(self, user: discord.abc.User) -> None:
        """From now on, DMs to `user` fail with 403 / 50007 like a user who blocks server DMs."""
        self.bot.http.closed_dms.add(user.id)

    def messages(self, channel: Any) -> list[dict[str, Any]]:
        """Raw message dicts stored in `channel`, oldest first (what Discord holds)."""
        return list(backend._cur_config.messages.get(channel.id, []))

    def last_message(self, channel: Any) -> discord.Message:
        data = self.messages(channel)[-1]
        return self.bot._connection._get_message(int(data["id"])) or discord.Message(
            state=self.bot._connection, channel=channel, data=data
        )


def _guild_payload(guild: discord.Guild) -> dict[str, Any]:
    """A GUILD_CREATE payload for `guild` as it stands now (for a restarted bot)."""
    members = []
    for member in guild.members:
        data = factories.dict_from_member(member)
        data["joined_at"] = member.joined_at.isoformat() if member.joined_at else None
        members.append(data)
    return factories.make_guild_dict(
        guild.name,
        guild.owner_id or 0,
        [factories.dict_from_role(r) for r in guild.roles],
        id_num=guild.id,
        members=members,
        channels=[factories.dict_from_channel(c) for c in guild.channels],
        member_count=len(members),
    )
