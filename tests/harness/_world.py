"""The fake Discord world a test runs in: the bot, two guilds, their members, and a restart.

The bot runs with the intents `create_bot` gives it (Discord's defaults, no members intent), so
its cache holds no member but its own. The people live on the Discord side (`People`): the fake
REST API answers from there, the driver builds interaction payloads from there, and the member
properties below (`env.buyer`, ...) build `discord.Member` objects from there, as an interaction
would carry them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import discord
import pytest
from discord.ext import commands
from discord.ext import test as dpytest
from discord.ext.test import backend, factories
from discord.webhook.async_ import AsyncWebhookAdapter
from sqlalchemy import update

from bot.db.models import DiscordEffect
from bot.services.timers.firing import TimerWorker
from tests.harness import _dpytest_fixes as fixes
from tests.harness import _server
from tests.harness._driver import InteractionDriver
from tests.harness._faults import Faults
from tests.harness._people import People
from tests.harness._recorder import Recorder
from tests.harness._tickets import Marketplace, TicketView, find_ticket, open_and_join
from tests.webhooks.events import agreed

BotFactory = Callable[[], commands.Bot]
ExtraSetup = Callable[[commands.Bot], Awaitable[None]]

P = discord.Permissions
BOT_PERMISSIONS = P(
    view_channel=True, send_messages=True, embed_links=True, read_message_history=True, attach_files=True,
    manage_channels=True, manage_roles=True, manage_messages=True, mention_everyone=True,
)  # fmt: skip
MEMBERS = ("admin", "freelancer", "buyer", "outsider", "officer", "officer_party")
JsonDict = dict[str, Any]


class DiscordEnv:
    """One test's Discord: `bot`, `driver`, `faults`, `guild`, members by role, `other_guild`."""

    def __init__(self, factory: BotFactory, monkeypatch: pytest.MonkeyPatch, *, officer_role_name: str,
                 extra_setup: ExtraSetup | None = None) -> None:  # fmt: skip
        self._factory, self._extra_setup = factory, extra_setup
        self.officer_role_name = officer_role_name
        self.faults = Faults()
        self.people = People()
        self.recorder = Recorder(self.faults)
        self.marketplace = Marketplace(self)
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
        with _initial_guilds(self.bot):
            self._build()
        await self._setup()
        return self

    async def restart(self) -> commands.Bot:
        """Close the bot and start a new instance (same database, same Discord state), like a redeploy."""
        state = self.bot._connection
        user = factories.dict_from_user(state.user)
        guilds = [
            self._guild_create(
                guild.id, guild.name, [factories.dict_from_role(r) for r in guild.roles],
                [factories.dict_from_channel(c) for c in guild.channels],
            )
            for guild in state.guilds
        ]  # fmt: skip
        messages = backend._cur_config.messages
        await self._close_bot()
        self.bot = self._configure(self._factory(), user=user)
        backend._cur_config = backend._cur_config._replace(messages=messages)
        with _initial_guilds(self.bot):
            for payload in guilds:
                self.bot._connection.parse_guild_create(payload)
        await self._setup()
        return self.bot

    async def close(self) -> None:
        await self.marketplace.close()
        await self._close_bot()
        await dpytest.empty_queue()
        fixes.reset_dpytest()

    def _configure(self, bot: commands.Bot, user: dict[str, Any] | None = None) -> commands.Bot:
        fixes.configure(bot, self.faults, self.people)
        if user is not None:
            state = bot._connection
            state.user = discord.ClientUser(state=state, data=user)
            state.application_id = state.user.id
        bot.tree._http = bot.http
        bot.tree._state = bot._connection
        self.driver = InteractionDriver(bot, self.recorder, self.people)
        return bot

    async def _setup(self) -> None:
        await self.bot._async_setup_hook()
        await self.bot.setup_hook()
        self.bot._ready.set()  # connected, guilds received: what Discord's READY means to discord.py
        if self._extra_setup is not None:
            await self._extra_setup(self.bot)
        runtime = getattr(self.bot, "runtime", None)
        if runtime is not None:  # events and the effects they leave are worked in the test's own task (`deliver`,
            await runtime.processor.close()  # `work_effects`), so each step is deterministic
            await runtime.effects.close()
            await runtime.anchors.close()  # tests pass days with `runtime.anchors.clock` and `.work()`
            await runtime.purges.close()  # the retention purge runs when a test calls `runtime.purges.work()`
            await runtime.timers.close()  # timers fire only when a test says the time has come (`fire_timers`)
        await dpytest.run_all_events()

    async def _close_bot(self) -> None:
        if self.bot is not None and not self.bot.is_closed():
            await dpytest.run_all_events()
            self.bot.ws = None  # the fake websocket has no socket to close
            await self.bot.close()

    # ---- the world -------------------------------------------------------------------------
    def _build(self) -> None:
        me = self.bot._connection.user
        self.people.add_user(me.name, me.discriminator, bot=True, user_id=me.id)
        roles = _roles(
            [("Admin", P(manage_guild=True)), (self.officer_role_name, P.none()), ("Guarantor", BOT_PERMISSIONS)]
        )
        guild_id, (admin, officer, mine) = int(roles[0]["id"]), [int(r["id"]) for r in roles[1:]]
        by_name = {"admin": [admin], "officer": [officer], "officer_party": [officer]}
        for name in MEMBERS:
            user = self.people.add_user(name, f"{len(self.ids) + 1:04}")
            self.people.add_member(guild_id, int(user["id"]), roles=by_name.get(name, []))
            self.ids[name] = int(user["id"])
        self.people.add_member(guild_id, me.id, roles=[mine])
        self._join("Guarantor HQ", roles)
        self.ids["guild"], self.ids["officer_role"] = guild_id, officer
        self.ids["channel"] = backend.make_text_channel("general", self.guild).id

        roles = _roles([(self.officer_role_name, P.none()), ("Guarantor", BOT_PERMISSIONS)])
        other_id, (other_officer, other_mine) = int(roles[0]["id"]), [int(r["id"]) for r in roles[1:]]
        stranger = self.people.add_user("stranger", "0099")
        self.people.add_member(other_id, int(stranger["id"]), roles=[other_officer])
        self.people.add_member(other_id, me.id, roles=[other_mine])
        self._join("Elsewhere", roles)
        self.ids.update(other_guild=other_id, stranger=int(stranger["id"]))
        self.ids["other_channel"] = backend.make_text_channel("lobby", self.other_guild).id

    def _join(self, name: str, roles: list[JsonDict]) -> None:
        self.bot._connection.parse_guild_create(self._guild_create(int(roles[0]["id"]), name, roles))

    def _guild_create(self, guild_id: int, name: str, roles: list[JsonDict], channels: Any = ()) -> JsonDict:
        """GUILD_CREATE as Discord sends it without the members intent: of the members, only the bot's own."""
        return factories.make_guild_dict(
            name,
            0,
            roles,
            id_num=guild_id,
            members=[self.people.member(guild_id, self.bot._connection.self_id)],
            channels=list(channels),
            member_count=len(self.people.member_ids(guild_id)),
        )

    @property
    def guild(self) -> discord.Guild:
        return self.bot.get_guild(self.ids["guild"])

    @property
    def other_guild(self) -> discord.Guild:
        return self.bot.get_guild(self.ids["other_guild"])

    def member(self, name: str) -> discord.Member:
        """The named person as an interaction carries them: a `discord.Member` with roles, not from the cache."""
        guild = self.other_guild if name == "stranger" else self.guild
        return self.member_of(guild, self.ids[name])

    def member_of(self, guild: discord.Guild, user_id: int) -> discord.Member:
        member = self.people.member_object(guild, user_id)
        if member is None:
            raise LookupError(f"user {user_id} is not a member of {guild}")
        return member

    def members(self, guild: discord.Guild | None = None) -> list[discord.Member]:
        """Every member of `guild` (default: the main one) on the Discord side, the bot included."""
        guild = guild or self.guild
        return [self.member_of(guild, user_id) for user_id in self.people.member_ids(guild.id)]

    def is_member(self, guild: discord.Guild, user: discord.abc.Snowflake) -> bool:
        return self.people.member(guild.id, user.id) is not None

    def add_member(self, name: str, discriminator: str, guild: discord.Guild | None = None) -> discord.Member:
        """A new member of the main guild (or `guild`), with no role (e.g. one freelancer per order)."""
        guild = guild or self.guild
        user = self.people.add_user(name, discriminator)
        self.people.add_member(guild.id, int(user["id"]))
        return self.member_of(guild, int(user["id"]))

    def add_guild(self, name: str) -> discord.Guild:
        """Another server the bot is in, with the officer role (no members yet) and a #general channel."""
        roles = _roles([(self.officer_role_name, P.none()), ("Guarantor", BOT_PERMISSIONS)])
        guild_id, mine = int(roles[0]["id"]), int(roles[2]["id"])
        self.people.add_member(guild_id, self.bot._connection.user.id, roles=[mine])
        self._join(name, roles)
        guild = self.bot.get_guild(guild_id)
        assert guild is not None
        backend.make_text_channel("general", guild)
        return guild

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

    # ---- orders and tickets ----------------------------------------------------------------
    async def deliver(self, document: JsonDict | None = None, **changes: Any) -> None:
        """POST a signed marketplace event (default `order.agreed` of ord_1 with `changes`) and work it."""
        await self.marketplace.deliver(document, **changes)

    async def work_effects(self) -> None:
        """What the effect worker would do now: every due Discord effect in the outbox, until none is left."""
        await self.marketplace.work_effects()

    async def fire_timers(self, at: datetime) -> int:
        """Time passes to `at`: a timer worker on that clock fires every timer due by then (their messages go
        to the outbox), then the effects are worked. Returns how many timers it took (fired or obsolete)."""
        runtime: Any = self.bot.runtime  # type: ignore[attr-defined]

        async def clock(_session: Any) -> datetime:
            return at

        taken = await TimerWorker(runtime.sessions, clock=clock).work()
        await self.work_effects()
        return taken

    async def expire_holds(self) -> None:
        """Time passes: every effect's retry is due and every worker's hold on one has run out."""
        async with self.bot.runtime.sessions.begin() as session:  # type: ignore[attr-defined]
            await session.execute(update(DiscordEffect).values(next_attempt_at=None, claimed_until=None))

    async def agree_order(self, order_id: str = "ord_1", **changes: Any) -> JsonDict:
        """The marketplace agrees `order_id` (sample terms, with `changes`); returns the event's data."""
        document = agreed(order_id, **changes)
        await self.marketplace.deliver(document)
        return document["data"]

    async def open_ticket_and_join(
        self, order_id: str = "ord_1", *, freelancer: discord.Member | None = None, buyer: discord.Member | None = None
    ) -> TicketView:
        """An agreed order's ticket opened by the freelancer and joined by the buyer (default: env's own)."""
        return await open_and_join(self, order_id, freelancer=freelancer, buyer=buyer)

    async def ticket(self, order_id: str = "ord_1") -> TicketView:
        """The ticket channel of `order_id`, as its database row records it."""
        return await find_ticket(self, order_id)

    # ---- things done by hand, outside the bot ----------------------------------------------
    async def delete_channel_by_hand(self, channel: discord.abc.GuildChannel) -> None:
        """Delete a channel as a server admin would: the bot gets `on_guild_channel_delete`, then 404s."""
        _server.delete_channel(channel)
        await dpytest.run_all_events()

    def close_dms(self, user: discord.abc.User) -> None:
        """From now on, DMs to `user` fail with 403 / 50007 like a user who blocks server DMs."""
        self.people.closed_dms.add(user.id)

    def messages(self, channel: Any) -> list[dict[str, Any]]:
        """Raw message dicts stored in `channel`, oldest first (what Discord holds)."""
        return list(backend._cur_config.messages.get(channel.id, []))

    def last_message(self, channel: Any) -> discord.Message:
        data = self.messages(channel)[-1]
        return self.bot._connection._get_message(int(data["id"])) or discord.Message(
            state=self.bot._connection, channel=channel, data=data
        )


@contextlib.contextmanager
def _initial_guilds(bot: commands.Bot) -> Iterator[None]:
    """The guilds a connecting bot is in arrive with READY: no `guild_join` for them (Discord sends none)."""
    state = bot._connection
    state._do_dispatch = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        state._do_dispatch = True  # type: ignore[attr-defined]


def _roles(specs: list[tuple[str, discord.Permissions]]) -> list[JsonDict]:
    """A new guild's roles: @everyone (its id is the guild's), then `specs` at positions 1, 2, ..."""
    guild_id = factories.make_id()
    roles = [factories.make_role_dict("@everyone", guild_id, position=0)]
    for position, (name, permissions) in enumerate(specs, 1):
        roles.append(factories.make_role_dict(name, permissions=permissions.value, position=position))
    return roles
