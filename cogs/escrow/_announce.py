"""After every escrow change: edit the ticket's summary in place, post a line in the channel,
and tell whoever must act next (DM, or a mention in the ticket when their DMs are closed).

Everything shown comes with the change (`Change.ticket`): nothing is read back from the database."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.services.escrow.results import MARKETPLACE, Change, TicketView
from bot.services.escrow.rules import Action, Role, next_steps, rule_for
from cogs.escrow._views import controls_for
from cogs.people import officer_role

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

log = logging.getLogger(__name__)

ESCROW_FIELD = "Escrow"


def _who(change: Change) -> str:
    return "The marketplace" if change.actor == MARKETPLACE else f"<@{change.actor}> ({change.role.value})"


def line(change: Change) -> str:
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
    """The Discord side of escrow changes (`bot.services.effects.EscrowAnnouncer`)."""

    def __init__(self, bot: GuarantorBot) -> None:
        self._bot = bot

    async def announce(self, change: Change) -> None:
        ticket = change.ticket
        if ticket is None or ticket.channel_id is None:
            return  # no ticket yet: its summary will show the state when it opens
        channel = self._bot.get_channel(ticket.channel_id)
        if not isinstance(channel, discord.TextChannel):
            return
        for step in (self._edit_summary, self._post_line, self._nudge):
            try:
                await step(channel, ticket, change)
            except discord.HTTPException as exc:
                log.warning("escrow %s on order %s: %s failed: %s", change.action, change.order_id, step.__name__, exc)

    async def _edit_summary(self, channel: discord.TextChannel, ticket: TicketView, change: Change) -> None:
        if ticket.summary_message_id is None:
            return
        message = await channel.fetch_message(ticket.summary_message_id)
        embed = message.embeds[0] if message.embeds else discord.Embed(title=f"Order {change.order_id}")
        value = change.target.label + (" · buyer approved" if change.approved else "")
        value += f" · claimed by <@{ticket.claimed_by}>" if ticket.claimed_by else ""
        index = next((i for i, f in enumerate(embed.fields) if f.name == ESCROW_FIELD), None)
        if index is None:
            embed.add_field(name=ESCROW_FIELD, value=value)
        else:
            embed.set_field_at(index, name=ESCROW_FIELD, value=value, inline=embed.fields[index].inline)
        embed.set_footer(text=f"Escrow v{change.version} · last: {change.action.value} ({change.role.value})")
        await message.edit(embed=embed, view=controls_for(change.order_id, change.target))

    async def _post_line(self, channel: discord.TextChannel, ticket: TicketView, change: Change) -> None:
        mentions = discord.AllowedMentions.none()
        text = line(change)
        if change.action is Action.FLAG:
            role = officer_role(channel.guild, ticket.officer_role_id, self._bot.settings.officer_role_name)
            if role is not None:
                text = f"{role.mention} {text}"
                mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role])
        await channel.send(text, allowed_mentions=mentions)

    async def _nudge(self, channel: discord.TextChannel, ticket: TicketView, change: Change) -> None:
        if not (change.state_changed or change.action is Action.APPROVE):
            return
        for rule in next_steps(change.target, approved=change.approved):
            for user_id in self._people(ticket, rule.roles):
                text = (
                    f"Order {change.order_id} is now {rule.source.label}. "
                    f"Next step for you: **{rule.label}** in <#{channel.id}>."
                )
                await self._tell(channel, user_id, text)

    @staticmethod
    def _people(ticket: TicketView, roles: frozenset[Role]) -> list[int]:
        people = []
        if Role.FREELANCER in roles:
            people.append(ticket.freelancer_id)
        if Role.BUYER in roles and ticket.buyer_id is not None:
            people.append(ticket.buyer_id)
        if Role.OFFICER in roles and ticket.claimed_by is not None:
            people.append(ticket.claimed_by)  # the officer who claimed the ticket; unclaimed tickets are in the queue
        return people

    async def _tell(self, channel: discord.TextChannel, user_id: int, text: str) -> None:
        try:
            user = self._bot.get_user(user_id) or await self._bot.fetch_user(user_id)
            await user.send(text)
        except discord.Forbidden:
            mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(user_id)])
            await channel.send(f"<@{user_id}> {text} (I could not DM you.)", allowed_mentions=mention)
