"""The Discord side of tickets: implements the services' `TicketOpener` port.

Makes the private channel (in the configured category, overflowing at 50 channels), posts
the summary that pings the officer role only, adds the buyer, and tells people things by
DM with a mention where they asked as the fallback. Discord failures an admin can fix
become `GuaranteeError`s naming what to grant; 429s are waited out by discord.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import discord

from bot.db.models import GuildConfig, Ticket
from bot.services.errors import GuaranteeError, NotFoundError
from bot.services.guilds import GuildSettings, chosen_officer_role
from bot.services.tickets.port import ChannelGoneError, TicketCard, TicketChannel
from cogs.people import lacking_permissions, officer_role
from cogs.tickets._dm import dm_text, fallback_text, ticket_link
from cogs.tickets._summary import (
    SummaryFacts,
    channel_name,
    channel_topic,
    summary_content,
    summary_embed,
    summary_title,
)

log = logging.getLogger(__name__)

CATEGORY_LIMIT = 50
CATEGORY_FULL = 50035  # Discord's "Invalid Form Body" code, sent when a category already holds 50 channels
DEFAULT_CATEGORY = "Guarantee tickets"
Controls = Callable[[str, str, int | None], discord.ui.View]


NOT_OURS = object()


class GuildUnavailableError(Exception):
    """The ticket's server is not in the bot's cache right now (reconnecting); not a reason to give up."""


class DiscordSetupError(GuaranteeError):
    """Something an admin must fix in the server before tickets can open."""


def missing_permissions(*names: str) -> DiscordSetupError:
    wanted = " and ".join(f"**{name}**" for name in names)
    return DiscordSetupError(
        f"I can't open the ticket: I need the {wanted} permission(s) in this server (and in the ticket category). "
        "Ask a server admin to grant them to my role, then try again."
    )


def no_officer_role(default_name: str) -> DiscordSetupError:
    return DiscordSetupError(
        f"I can't open the ticket: this server has no officer role. Ask a server admin to run "
        f"`/guarantee setup` or to create a role named **{default_name}**."
    )


async def _pin(channel: discord.TextChannel, message_id: int) -> None:
    """Pin the summary, so its safety notice stays in reach however long the ticket grows. Pinning twice is
    harmless; without the Pin Messages permission the summary is still the channel's first message."""
    try:
        await channel.get_partial_message(message_id).pin(reason="The ticket's summary and safety notice")
    except discord.Forbidden:
        log.warning("cannot pin the summary in channel %s: the bot lacks Pin Messages there", channel.id)


class DiscordTicketOpener:
    def __init__(
        self,
        client: discord.Client,
        guilds: GuildSettings,
        *,
        officer_role_name: str,
        controls: Controls | None = None,
    ) -> None:
        self._client = client
        self._guilds = guilds
        self._role_name = officer_role_name
        self._controls = controls
        # Choosing a category and creating the channel in it is one step per guild: concurrent opens
        # would otherwise all see room in the same category and overfill it.
        self._locks: dict[int, asyncio.Lock] = {}

    async def create_channel(self, card: TicketCard) -> TicketChannel:
        guild = self._client.get_guild(card.ticket.guild_id)
        if guild is None:  # not in the cache (yet): after a reconnect it fills again; the effect is retried
            raise GuildUnavailableError(f"guild {card.ticket.guild_id} is not in the cache")
        config = await self._guilds.get(guild.id)
        role = officer_role(guild, chosen_officer_role(config), self._role_name)
        if role is None:
            raise no_officer_role(self._role_name)
        if lacking := lacking_permissions(guild):
            raise missing_permissions(*lacking)
        try:
            found = await self._leftover(guild, card, role)
            channel, summary_id = found if found is not None else (await self._create(guild, card, role, config), None)
            if summary_id is None:  # an adopted channel keeps the summary it has: never a second one
                facts = SummaryFacts.of(
                    card.ticket, card.order, card.escrow_state, approved=card.approved, checks=card.checks
                )
                message = await channel.send(
                    content=summary_content(ping=role),
                    embed=summary_embed(facts),
                    allowed_mentions=discord.AllowedMentions(
                        everyone=False, users=False, roles=[role], replied_user=False
                    ),
                    view=self._view(card),
                )
                summary_id = message.id
        except discord.Forbidden:
            raise missing_permissions("Manage Channels", "Manage Roles") from None
        await _pin(channel, summary_id)
        return TicketChannel(channel.id, summary_id)

    def _view(self, card: TicketCard) -> Any:
        """The escrow's control buttons when the escrow extension provides them (else no view)."""
        if self._controls is None:
            return discord.utils.MISSING
        return self._controls(card.ticket.order_id, card.escrow_state or "awaiting_funding", card.ticket.claimed_by)

    async def _leftover(
        self, guild: discord.Guild, card: TicketCard, role: discord.Role
    ) -> tuple[discord.TextChannel, int | None] | None:
        """A channel made before a crash (same name and topic) is used instead of a second one, made safe,
        with the summary it already carries (its id, or None when it has none yet).

        Anyone with Manage Channels can make a look-alike, or change the overwrites of ours. So a
        channel is reused only if the bot can read it and nobody but the bot has posted in it, and its
        overwrites are then set to the ticket's own, replacing whatever was there. Any other channel
        of that name is left alone (and logged): the ticket gets a new one.
        """
        order_id = card.ticket.order_id
        for channel in guild.text_channels:
            if channel.name != channel_name(order_id) or channel.topic != channel_topic(order_id):
                continue
            ours = await self._ours(guild, channel, order_id)
            if ours is NOT_OURS:
                log.warning(
                    "channel %s in guild %s looks like the ticket of order %s but is not the bot's; not using it",
                    channel.id, guild.id, order_id,
                )  # fmt: skip
                continue
            try:
                await channel.edit(
                    overwrites=self._overwrites(guild, card, role), reason=f"Guarantee ticket for order {order_id}"
                )
            except discord.Forbidden:
                log.warning("cannot reset the permissions of channel %s (order %s); not using it", channel.id, order_id)
                continue
            return channel, ours if isinstance(ours, int) else None
        return None

    @staticmethod
    async def _ours(guild: discord.Guild, channel: discord.TextChannel, order_id: str) -> int | object | None:
        """`NOT_OURS` unless the bot can read `channel` and nobody else posted in it; else the id of the
        summary it holds, or None. A failure that may pass (Discord 5xx) is raised: retried, not a new channel."""
        perms = channel.permissions_for(guild.me)
        if not (perms.view_channel and perms.read_message_history):
            return NOT_OURS
        summary: int | None = None
        try:
            async for message in channel.history(limit=100, oldest_first=True):
                if message.author.id != guild.me.id:
                    return NOT_OURS
                if summary is None and message.embeds and message.embeds[0].title == summary_title(order_id):
                    summary = message.id
        except discord.Forbidden:
            return NOT_OURS
        return summary

    async def _create(
        self, guild: discord.Guild, card: TicketCard, role: discord.Role, config: GuildConfig | None
    ) -> discord.TextChannel:
        overwrites = self._overwrites(guild, card, role)
        full: set[int] = set()
        async with self._locks.setdefault(guild.id, asyncio.Lock()):
            while True:
                category = await self._category(guild, config, role, full=full)
                try:
                    return await guild.create_text_channel(
                        channel_name(card.ticket.order_id),
                        category=category,
                        overwrites=overwrites,
                        topic=channel_topic(card.ticket.order_id),
                        reason=f"Guarantee ticket for order {card.ticket.order_id}",
                    )
                except discord.HTTPException as exc:
                    if exc.code != CATEGORY_FULL or full:  # full already tried: once is the limit
                        raise
                    log.info(
                        "category %s in guild %s is full (Discord said so); trying the next", category.id, guild.id
                    )
                    full.add(category.id)

    @staticmethod
    def _overwrites(
        guild: discord.Guild, card: TicketCard, role: discord.Role
    ) -> dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite]:
        allow = discord.PermissionOverwrite(
            view_channel=True, send_messages=True, read_message_history=True, attach_files=True, embed_links=True
        )
        overwrites: dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite] = {
            guild.default_role: discord.PermissionOverwrite(view_channel=False),
            role: allow,
            guild.me: discord.PermissionOverwrite(
                view_channel=True,
                send_messages=True,
                read_message_history=True,
                manage_channels=True,
                manage_permissions=True,
                embed_links=True,
                attach_files=True,
            ),
        }
        for user_id in (card.ticket.freelancer_id, card.ticket.buyer_id):
            if user_id is not None:
                overwrites[guild.get_member(user_id) or discord.Object(user_id, type=discord.Member)] = allow
        return overwrites

    async def _category(
        self, guild: discord.Guild, config: GuildConfig | None, role: discord.Role, *, full: set[int]
    ) -> discord.CategoryChannel:
        """The configured category (or ours), or the next overflow one with room (`full`: known full ones)."""
        base = guild.get_channel(config.category_id) if config and config.category_id else None
        base_name = base.name if isinstance(base, discord.CategoryChannel) else DEFAULT_CATEGORY
        # `guild.categories` and `category.channels` each sort or scan every channel of the guild:
        # read them once per open, not once per candidate.
        by_name: dict[str, discord.CategoryChannel] = {}
        for existing in guild.categories:  # in position order: the first of a name wins, as discord.utils.get
            by_name.setdefault(existing.name, existing)
        in_category = Counter(channel.category_id for channel in guild.channels)
        candidates: list[discord.CategoryChannel | None] = [base] if isinstance(base, discord.CategoryChannel) else []
        candidates += [by_name.get(base_name)]
        candidates += [by_name.get(f"{base_name} {n}") for n in range(2, 11)]
        for category in candidates:
            if category is not None and category.id not in full and in_category[category.id] < CATEGORY_LIMIT:
                return category
        taken = set(by_name)
        name = (
            base_name
            if base_name not in taken
            else next(f"{base_name} {n}" for n in range(2, 100) if f"{base_name} {n}" not in taken)
        )
        log.info("creating ticket category %r in guild %s", name, guild.id)
        return await guild.create_category(
            name,
            overwrites={
                guild.default_role: discord.PermissionOverwrite(view_channel=False),
                role: discord.PermissionOverwrite(view_channel=True),
            },
            reason="Guarantee tickets",
        )

    async def _channel(self, channel_id: int) -> discord.abc.GuildChannel | None:
        channel = self._client.get_channel(channel_id)
        if channel is not None:  # from the cache: narrowed like a fetched one
            return channel if isinstance(channel, discord.abc.GuildChannel) else None
        try:
            fetched = await self._client.fetch_channel(channel_id)
        except discord.NotFound:
            return None
        return fetched if isinstance(fetched, discord.abc.GuildChannel) else None

    async def channel_exists(self, guild_id: int, channel_id: int) -> bool:
        return await self._channel(channel_id) is not None

    async def add_member(self, ticket: Ticket, user_id: int, *, announce: bool = True, side: str = "buyer") -> None:
        """Let a party into the ticket (`side`: the buyer, or a freelancer who proved the order's new seller
        email); `announce`: say so in it (not for someone who was in already)."""
        channel = await self._channel(ticket.channel_id) if ticket.channel_id else None
        if not isinstance(channel, discord.TextChannel):
            raise ChannelGoneError(ticket.order_id)
        try:
            # With the default intents the member is not cached: this REST lookup is the normal path,
            # and its 404 (Unknown Member) means the person left the server, not that the channel is gone.
            target = channel.guild.get_member(user_id) or await channel.guild.fetch_member(user_id)
        except discord.NotFound:
            raise NotFoundError(
                "You are not a member of this server any more, so I can't add you to the ticket. "
                "Join the server again, then run `/guarantee join` again."
            ) from None
        try:
            await channel.set_permissions(
                target, view_channel=True, send_messages=True, read_message_history=True, attach_files=True,
                embed_links=True, reason=f"The {side} of order {ticket.order_id} verified",
            )  # fmt: skip
            if announce:
                proven = ticket.freelancer_proven if side == "freelancer" else ticket.buyer_proven
                how = "was proven with a one-time code" if proven else "matches the order's (not proven)"
                await channel.send(f"<@{user_id}> joined as the {side}: their email {how}.")
        except discord.NotFound:
            raise ChannelGoneError(ticket.order_id) from None
        except discord.Forbidden:
            raise missing_permissions("Manage Roles") from None

    async def notify(
        self, *, user_id: int, fallback_channel_id: int | None, text: str, ticket_channel_id: int | None = None,
        guild_id: int | None = None,
    ) -> None:  # fmt: skip
        """DM the user (saying where it comes from, linking the ticket); when their DMs are closed, mention them
        where they asked."""
        guild = self._client.get_guild(guild_id) if guild_id is not None else None
        link = ticket_link(guild_id, ticket_channel_id) if guild_id is not None and ticket_channel_id else None
        try:
            user = self._client.get_user(user_id) or await self._client.fetch_user(user_id)
            await user.send(dm_text(guild.name if guild else None, text, link=link))
            return
        except discord.HTTPException as exc:
            log.info("DM to user %s failed (%s); falling back to a mention", user_id, exc.status)
        channel = self._client.get_channel(fallback_channel_id) if fallback_channel_id else None
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("could not tell user %s: DMs closed and no channel to mention them in", user_id)
            return
        await channel.send(
            fallback_text(user_id, text, ticket_channel_id=ticket_channel_id),
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, replied_user=False, users=[discord.Object(user_id)]
            ),
        )
