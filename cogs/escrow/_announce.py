"""After every escrow change: edit the ticket's summary in place, post a line in the channel,
and tell whoever must act next (DM, or a mention in the ticket when their DMs are closed)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.db.models import Ticket
from bot.services.escrow.rules import Action, Role, State, next_steps, rule_for
from bot.services.escrow.service import MARKETPLACE, Change
from bot.services.tickets.guilds import GuildSettings
from bot.services.tickets.service import ticket_for_order
from cogs.escrow._views import controls_for
from cogs.tickets._channels import officer_role

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

log = logging.getLogger(__name__)

ESCROW_FIELD = "Escrow"


def _state(state: State) -> str:
    return state.value.replace("_", " ")


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
        text = f"**{label}** · {_who(change)}: {_state(change.source)} → **{_state(change.target)}**"
    return text + (f"\n{quote(change.note[:900])}" if change.note else "")


def quote(note: str) -> str:
    """Every line of a person's note as a quote, so no line can pass for the bot's own."""
    return "\n".join(f"> {part}" for part in note.splitlines() or [""])


class Announcer:
    def __init__(self, bot: GuarantorBot, guilds: GuildSettings) -> None:
        self._bot = bot
        self._guilds = guilds

    async def on_change(self, change: Change) -> None:
        async with self._bot.runtime.sessions() as session:
            ticket = await ticket_for_order(session=session, order_id=change.order_id)
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

    async def _edit_summary(self, channel: discord.TextChannel, ticket: Ticket, change: Change) -> None:
        if ticket.summary_message_id is None:
            return
        escrow = await self._bot.runtime.escrow.get(change.order_id)
        message = await channel.fetch_message(ticket.summary_message_id)
        embed = message.embeds[0] if message.embeds else discord.Embed(title=f"Order {change.order_id}")
        value = _state(State(escrow.state)) + (" · buyer approved" if escrow.approved_at else "")
        claimed = ticket.claimed_by or escrow.claimed_by
        value += f" · claimed by <@{claimed}>" if claimed else ""
        index = next((i for i, f in enumerate(embed.fields) if f.name == ESCROW_FIELD), None)
        if index is None:
            embed.add_field(name=ESCROW_FIELD, value=value)
        else:
            embed.set_field_at(index, name=ESCROW_FIELD, value=value, inline=embed.fields[index].inline)
        embed.set_footer(text=f"Escrow v{escrow.version} · last: {change.action.value} ({change.role.value})")
        await message.edit(embed=embed, view=controls_for(change.order_id, escrow.state))

    async def _post_line(self, channel: discord.TextChannel, ticket: Ticket, change: Change) -> None:
        mentions = discord.AllowedMentions.none()
        text = line(change)
        if change.action is Action.FLAG:
            role = officer_role(
                channel.guild, await self._guilds.get(channel.guild.id), self._bot.settings.officer_role_name
            )
            if role is not None:
                text = f"{role.mention} {text}"
                mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role])
        await channel.send(text, allowed_mentions=mentions)

    async def _nudge(self, channel: discord.TextChannel, ticket: Ticket, change: Change) -> None:
        if not (change.state_changed or change.action is Action.APPROVE):
            return
        escrow = await self._bot.runtime.escrow.get(change.order_id)
        for rule in next_steps(State(escrow.state), approved=escrow.approved_at is not None):
            for user_id in self._people(ticket, escrow.claimed_by, rule.roles):
                text = (
                    f"Order {change.order_id} is now {_state(rule.source)}. "
                    f"Next step for you: **{rule.label}** in <#{channel.id}>."
                )
                await self._tell(channel, user_id, text)

    @staticmethod
    def _people(ticket: Ticket, escrow_claim: int | None, roles: frozenset[Role]) -> list[int]:
        people = []
        if Role.FREELANCER in roles:
            people.append(ticket.freelancer_id)
        if Role.BUYER in roles and ticket.buyer_id is not None:
            people.append(ticket.buyer_id)
        claimed = ticket.claimed_by or escrow_claim
        if Role.OFFICER in roles and claimed is not None:
            people.append(claimed)  # the officer who claimed the ticket; unclaimed tickets are in the queue
        return people

    async def _tell(self, channel: discord.TextChannel, user_id: int, text: str) -> None:
        try:
            user = self._bot.get_user(user_id) or await self._bot.fetch_user(user_id)
            await user.send(text)
        except discord.Forbidden:
            mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(user_id)])
            await channel.send(f"<@{user_id}> {text} (I could not DM you.)", allowed_mentions=mention)
