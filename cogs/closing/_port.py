"""The Discord side of the closing effect (`bot.services.closing.closer.ClosingDiscord`): read the ticket's
history, post the transcript's files to the log channel, tell the parties, and delete or lock the channel.
A Discord failure is raised (the effect worker retries); a channel that is gone is not an error here.

Locking (`CLOSED_TICKET_ACTION=lock`) keeps the channel for reading: the summary's buttons go, nobody but the
bot may write in it any more (everyone who could see it still can), it is renamed `closed-<order id>` and
moved under a **Closed tickets** category (made when missing, private like the ticket ones; a full one
overflows into **Closed tickets 2**, ...).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from typing import TYPE_CHECKING

import discord

from bot.db.models import Ticket
from bot.services.closing.closer import TranscriptPost
from bot.services.closing.storage import AttachmentFetcher
from bot.services.closing.transcript import Transcript
from bot.services.tickets.port import ChannelGoneError
from cogs.closing._history import read_transcript
from cogs.tickets._dm import dm_text, fallback_text

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

log = logging.getLogger(__name__)

ARCHIVE = "Closed tickets"
CATEGORY_LIMIT = 50
TOO_LARGE = 413  # Discord's answer to an upload over the server's limit (code 40005)
READ_ONLY = {"send_messages": False, "add_reactions": False, "create_public_threads": False}
READ_ONLY |= {"create_private_threads": False, "send_messages_in_threads": False}


def closed_name(order_id: str) -> str:
    return f"closed-{order_id.lower()}"[:100]


class DiscordClosing:
    def __init__(self, bot: GuarantorBot, fetcher: AttachmentFetcher | None) -> None:
        self._bot = bot
        self._fetcher = fetcher

    @property
    def fetcher(self) -> AttachmentFetcher | None:
        return self._fetcher

    def _channel(self, ticket: Ticket) -> discord.TextChannel | None:
        channel = self._bot.get_channel(ticket.channel_id) if ticket.channel_id is not None else None
        return channel if isinstance(channel, discord.TextChannel) else None

    async def read_transcript(self, ticket: Ticket) -> Transcript | None:
        channel = self._channel(ticket)
        if channel is None:
            return None
        try:
            return await read_transcript(channel, sessions=self._bot.runtime.sessions, order_id=ticket.order_id)
        except discord.NotFound:
            return None

    async def post_transcript(self, post: TranscriptPost) -> None:
        guild = self._bot.get_guild(post.guild_id)
        channel = guild.get_channel(post.channel_id) if guild is not None else None
        if not isinstance(channel, discord.TextChannel):
            raise ChannelGoneError(f"log channel {post.channel_id}")
        files = [discord.File(path, filename=path.name) for path in post.files if path.is_file()]
        try:
            await channel.send(post.text, files=files, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            if exc.status != TOO_LARGE:
                raise
            # More than the server lets a bot upload: retrying would never succeed. The text goes alone.
            names = ", ".join(f"`{path.name}`" for path in post.files)
            text = f"{post.text}\nThe files ({names}) are too large to attach here; they are kept with the bot's data."
            await channel.send(text[:2000], allowed_mentions=discord.AllowedMentions.none())
        finally:
            for file in files:
                file.close()

    async def tell(self, ticket: Ticket, user_id: int, body: str) -> None:
        guild = self._bot.get_guild(ticket.guild_id)
        try:
            user = self._bot.get_user(user_id) or await self._bot.fetch_user(user_id)
            await user.send(dm_text(guild.name if guild is not None else None, body))
        except discord.NotFound:
            log.info("user %s of order %s is gone; not told of the closing", user_id, ticket.order_id)
        except discord.Forbidden:
            channel = self._channel(ticket)
            if channel is None:
                log.info("user %s of order %s has closed DMs and the ticket is gone", user_id, ticket.order_id)
                return
            mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(user_id)])
            await channel.send(fallback_text(user_id, body), allowed_mentions=mention)

    async def tell_officer(self, ticket: Ticket, officer_id: int, text: str) -> None:
        channel = self._channel(ticket)
        if channel is not None:
            mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(officer_id)])
            await channel.send(f"<@{officer_id}> {text}", allowed_mentions=mention)
            return
        guild = self._bot.get_guild(ticket.guild_id)
        user = self._bot.get_user(officer_id) or await self._bot.fetch_user(officer_id)
        await user.send(dm_text(guild.name if guild is not None else None, text))

    async def end_channel(self, ticket: Ticket, action: str) -> None:
        channel = self._channel(ticket)
        if channel is None:
            return
        try:
            if action == "delete":
                await channel.delete(reason=f"Ticket of order {ticket.order_id} closed; transcript saved")
            else:
                await self._lock(channel, ticket)
        except discord.NotFound:
            log.info("channel %s of order %s was gone already", channel.id, ticket.order_id)

    async def _lock(self, channel: discord.TextChannel, ticket: Ticket) -> None:
        if ticket.summary_message_id is not None:
            with contextlib.suppress(discord.NotFound):  # the buttons go: nothing is left to do on a closed ticket
                await channel.get_partial_message(ticket.summary_message_id).edit(view=None)
        me = channel.guild.me
        overwrites = dict(channel.overwrites)
        for target, overwrite in overwrites.items():
            if target.id != me.id:
                overwrite.update(**READ_ONLY)
        overwrites.setdefault(channel.guild.default_role, discord.PermissionOverwrite(view_channel=False))
        category = await self._archive(channel)
        await channel.edit(
            name=closed_name(ticket.order_id), category=category, overwrites=overwrites, sync_permissions=False,
            reason=f"Ticket of order {ticket.order_id} closed; transcript saved",
        )  # fmt: skip

    @staticmethod
    async def _archive(channel: discord.TextChannel) -> discord.CategoryChannel:
        """The closed tickets' category with room (the channel's own, if it is in one already), made if missing."""
        guild = channel.guild
        names = [ARCHIVE] + [f"{ARCHIVE} {n}" for n in range(2, 100)]
        by_name = {category.name: category for category in reversed(guild.categories)}  # the first of a name wins
        if channel.category is not None and channel.category.name in names:
            return channel.category
        in_category = Counter(c.category_id for c in guild.channels)
        for name in names:
            category = by_name.get(name)
            if category is None:
                log.info("creating category %r in guild %s", name, guild.id)
                return await guild.create_category(
                    name,
                    overwrites={
                        guild.default_role: discord.PermissionOverwrite(view_channel=False),
                        guild.me: discord.PermissionOverwrite(view_channel=True, manage_channels=True),
                    },
                    reason="Closed guarantee tickets",
                )
            if in_category[category.id] < CATEGORY_LIMIT:
                return category
        raise discord.DiscordException("every closed tickets category is full")
