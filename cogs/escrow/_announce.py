"""The Discord side of the escrow's effects (`bot.services.effects.DiscordSide`): rebuild the ticket's
summary in place, post a status line in the channel, and tell whoever must act next (a DM, or a
mention in the ticket when their DMs are closed). The effect worker calls these with the ticket as
it is now; a Discord failure is raised, and the worker retries the effect later."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.services.effects import LogNotice, TicketSnapshot
from bot.services.escrow.announcements import Line, NextStep
from bot.services.escrow.results import MARKETPLACE
from bot.services.escrow.rules import Action, State, rule_for
from bot.services.tickets.port import ChannelGoneError
from bot.services.tickets.verification import checks_passed
from cogs.escrow._views import controls_for
from cogs.people import officer_role
from cogs.tickets._summary import summary_embed

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

log = logging.getLogger(__name__)

ESCROW_FIELD = "Escrow"


def _who(change: Line) -> str:
    return "The marketplace" if change.actor == MARKETPLACE else f"<@{change.actor}> ({change.role.value})"


def line(change: Line) -> str:
    """The channel's record of one change (notes are quoted; the bot never pings from user text)."""
    if change.action is Action.FLAG:
        return f"⚠️ {change.note}"
    rule = rule_for(change.action, change.source)
    label = rule.label if rule is not None else change.action.value
    if change.action is Action.CLAIM:
        text = f"🙋 {_who(change)} claimed this ticket."
    elif change.action is Action.APPROVE:
        text = f"👍 {_who(change)} approved the release."
    else:
        text = f"**{label}** · {_who(change)}: {change.source.label} → **{change.target.label}**"
    return text + (f"\n{quote(change.note[:900])}" if change.note else "")


def quote(note: str) -> str:
    """Every line of a person's note as a quote, so no line can pass for the bot's own."""
    return "\n".join(f"> {part}" for part in note.splitlines() or [""])


class Announcer:
    """What an escrow change shows on Discord, done by the effect worker when Discord is ready."""

    def __init__(self, bot: GuarantorBot) -> None:
        self._bot = bot

    def ready(self) -> bool:
        return self._bot.is_ready()

    async def _channel(self, snapshot: TicketSnapshot) -> discord.TextChannel:
        channel_id = snapshot.ticket.channel_id
        channel = self._bot.get_channel(channel_id) if channel_id is not None else None
        if not isinstance(channel, discord.TextChannel):
            raise ChannelGoneError(snapshot.order.id)
        return channel

    async def refresh_summary(self, snapshot: TicketSnapshot) -> None:
        """The summary rebuilt whole from the state as it is now (so a retried or late edit is never stale)."""
        ticket, order, escrow = snapshot.ticket, snapshot.order, snapshot.escrow
        if ticket.summary_message_id is None:
            return
        channel = await self._channel(snapshot)
        state = escrow.state if escrow is not None else State.AWAITING_FUNDING.value
        approved = escrow is not None and escrow.approved_at is not None
        embed = summary_embed(ticket, order, checks_passed(order, ticket), escrow_state=state, approved=approved)
        try:
            await channel.get_partial_message(ticket.summary_message_id).edit(
                embed=embed, view=controls_for(order.id, state)
            )
        except discord.NotFound:
            raise ChannelGoneError(order.id) from None

    async def post_line(self, snapshot: TicketSnapshot, change: Line) -> None:
        channel = await self._channel(snapshot)
        mentions = discord.AllowedMentions.none()
        text = line(change)
        if change.action is Action.FLAG:
            role = officer_role(channel.guild, snapshot.officer_role_id, self._bot.settings.officer_role_name)
            if role is not None:
                text = f"{role.mention} {text}"
                mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role])
        await channel.send(text, allowed_mentions=mentions)

    async def tell(self, snapshot: TicketSnapshot, step: NextStep) -> None:
        """Tell one person it is their turn: a DM, else a mention in the ticket when their DMs are closed."""
        channel = await self._channel(snapshot)
        text = (
            f"Order {snapshot.order.id} is now {step.state.label}. "
            f"Next step for you: **{step.step}** in <#{channel.id}>."
        )
        try:
            user = self._bot.get_user(step.user_id) or await self._bot.fetch_user(step.user_id)
            await user.send(text)
        except discord.Forbidden:
            mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(step.user_id)])
            await channel.send(f"<@{step.user_id}> {text} (I could not DM you.)", allowed_mentions=mention)

    async def post_log(self, notice: LogNotice) -> None:
        """A notice to the officers in the server's log channel; a channel that is gone drops it."""
        guild = self._bot.get_guild(notice.guild_id)
        channel = guild.get_channel(notice.channel_id) if guild is not None else None
        if guild is None or not isinstance(channel, discord.TextChannel):
            raise ChannelGoneError(f"log channel {notice.channel_id}")
        role = officer_role(guild, notice.officer_role_id, self._bot.settings.officer_role_name)
        text, mentions = notice.text, discord.AllowedMentions.none()
        if role is not None:
            text = f"{role.mention} {text}"
            mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role], replied_user=False)
        await channel.send(text, allowed_mentions=mentions)
