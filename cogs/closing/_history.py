"""A ticket channel's whole history as a transcript.

`channel.history(limit=None, oldest_first=True)` asks Discord for 100 messages a request, each
page after the newest one it has, until a page comes back short; discord.py's `HTTPClient.request`
sleeps out a 429's `retry_after` and retries, so a rate limit slows the reading down without
losing a page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import discord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.closing.header import load_header
from bot.services.closing.transcript import Attachment, Embed, EmbedField, Mentions, Message, Transcript

log = logging.getLogger(__name__)


def _embed(embed: discord.Embed) -> Embed:
    return Embed(
        title=embed.title,
        description=embed.description,
        fields=tuple(EmbedField(f.name or "", f.value or "", bool(f.inline)) for f in embed.fields),
        footer=embed.footer.text,
    )


def _attachment(attachment: discord.Attachment) -> Attachment:
    return Attachment(
        id=attachment.id,
        filename=attachment.filename,
        size=attachment.size,
        content_type=attachment.content_type,
        url=attachment.url,
    )


def message_of(message: discord.Message) -> Message:
    """The transcript's copy of one Discord message: text, embeds, files and the names behind its mentions."""
    return Message(
        id=message.id,
        author_id=message.author.id,
        author_name=message.author.display_name,
        is_bot=message.author.bot,
        created_at=message.created_at,
        content=message.system_content if message.is_system() else message.content,
        edited_at=message.edited_at,
        embeds=tuple(_embed(e) for e in message.embeds),
        attachments=tuple(_attachment(a) for a in message.attachments),
        mentions=Mentions(
            users={user.id: user.display_name for user in message.mentions},
            roles={role.id: role.name for role in message.role_mentions},
            channels={channel.id: channel.name for channel in message.channel_mentions},
        ),
    )


async def read_history(channel: discord.abc.Messageable) -> list[Message]:
    """Every message of the channel, oldest first (100 a request; 429s are waited out by discord.py)."""
    return [message_of(message) async for message in channel.history(limit=None, oldest_first=True)]


async def _member_names(guild: discord.Guild, user_ids: Iterable[int]) -> dict[int, str]:
    """Display names from the cache, else one REST call each (no members intent); unknown ones are left out."""
    names: dict[int, str] = {}
    for user_id in user_ids:
        member = guild.get_member(user_id)
        if member is None:
            try:
                member = await guild.fetch_member(user_id)
            except discord.HTTPException:  # left the server, or Discord is unwell: the id stays
                continue
        names[user_id] = member.display_name
    return names


async def read_transcript(
    channel: discord.TextChannel,
    *,
    sessions: async_sessionmaker[AsyncSession],
    order_id: str,
    known: Mapping[int, str] | None = None,
) -> Transcript:
    """The channel's history under the order's header (terms, parties by name, officer, audit trail).

    Names come from the messages' authors, then `known`, then the server for anyone still missing."""
    messages = await read_history(channel)
    names = {m.author_id: m.author_name for m in messages} | dict(known or {})  # the newest name wins
    header = await load_header(sessions, order_id=order_id, names=names)
    missing = [person.discord_id for person in header.people if person.discord_id not in names]
    if missing:
        header = header.named(await _member_names(channel.guild, missing))
    log.info("read %d messages of order %s's ticket channel %s", len(messages), order_id, channel.id)
    return Transcript(header=header, messages=tuple(messages))
