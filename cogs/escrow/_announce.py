"""The Discord side of the escrow's effects (`bot.services.effects.DiscordSide`): rebuild the ticket's
summary in place, post a line in the channel, and tell each person the news and whether it is their turn
(a DM that says where it comes from, or a mention in the ticket when their DMs are closed). The effect
worker calls these with the ticket as it is now; a Discord failure is raised, and the worker retries the
effect later."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import discord

from bot.services.effects import LogNotice, TicketSnapshot
from bot.services.escrow.announcements import Line, Notice, Removal
from bot.services.escrow.results import MARKETPLACE
from bot.services.escrow.rules import Action, Role, State
from bot.services.tickets.port import ChannelGoneError
from bot.services.tickets.verification import checks_passed
from bot.services.timers.schedule import TimerKind, TimerNotice
from bot.services.vocabulary import OFFICER, ROLE_WORDS, TERM_WORDS, full_time, join_command, money
from cogs.escrow._reminders import PINGS_OFFICERS, reminder
from cogs.escrow._views import controls_for
from cogs.people import officer_role
from cogs.tickets._dm import dm_text, fallback_text, ticket_link
from cogs.tickets._next import still_their_turn, turn_text
from cogs.tickets._summary import SummaryFacts, summary_content, summary_embed

if TYPE_CHECKING:
    from cogs.client import GuarantorBot

log = logging.getLogger(__name__)

UNKNOWN_CHANNEL = 10003  # Discord's error code for a channel that is gone


class Told(Protocol):
    """What a line or a notice says about a change: who did what, leaving the order in which state."""

    @property
    def action(self) -> Action | None: ...

    @property
    def actor(self) -> str: ...

    @property
    def role(self) -> Role | None: ...


def _who(change: Told) -> str:
    if change.actor == MARKETPLACE:
        return "the marketplace"
    role = ROLE_WORDS.get(change.role.value, change.role.value) if change.role else ""
    return f"<@{change.actor}> ({role})" if role else f"<@{change.actor}>"


def _note_label(change: Line) -> str:
    if change.action is Action.FUND:
        return "Payment reference:"
    if change.source is State.DISPUTED:
        return "Decision:"
    if change.action is Action.RELEASE:
        return "Why without the buyer's approval:"
    return "Reason:" if change.action in (Action.REFUND, Action.DISPUTE) else "Note:"


def _term(name: str, value: str) -> str:
    if name == "delivery_due":
        try:
            return full_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


def terms_line(change: Line, order_id: str) -> str:
    """What new terms changed, term by term (was, now); a changed email says who must verify again."""
    lines = [
        "📝 **The marketplace changed the terms of this order.** No payment is held in escrow yet. Questions and "
        "forms opened on the old terms are refused: read the summary before acting."
    ]
    for name, was, now in change.changes:
        label = TERM_WORDS.get(name, name)
        if name == "deliverables":
            lines.append(f"• **{label}** were:\n{quote(was)}\nnow:\n{quote(now)}")
            continue
        if was == now:  # two addresses that mask alike
            lines.append(f"• **{label}**: now another address (both show as {now})")
        else:
            lines.append(f"• **{label}**: now {_term(name, now)} (was {_term(name, was)})")
        if name == "buyer_email":
            lines.append(f"  The buyer must verify again: {join_command(order_id)} with the new email.")
        elif name == "seller_email":
            lines.append("  The freelancer must verify again: `/guarantee open` with the new email and the gig link.")
    return _clip("\n".join(lines), 1900)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reverify_text(removal: Removal, order_id: str) -> str:
    """Why a party was taken out of the ticket, and how to come back."""
    if removal.side is Role.BUYER:
        what, how = "buyer's email", f"{join_command(order_id)} with the email now on the order"
    else:
        what, how = "freelancer's email", "`/guarantee open` with the email now on the order and the gig link"
    return (
        f"the marketplace changed the {what} on this order, so your earlier email check no longer counts and "
        f"you were taken out of the ticket. If you are still part of this order, run {how}."
    )


def line(change: Line, amount: str = "the payment", order_id: str = "") -> str:
    """The channel's record of one change (notes are quoted; the bot never pings from user text)."""
    if change.action is Action.FLAG:
        return f"⚠️ {change.note}"
    if change.action is Action.TERMS:
        return terms_line(change, order_id)
    who, by_market = _who(change), change.actor == MARKETPLACE
    texts = {
        Action.CLAIM: f"🙋 {who} claimed this ticket.",
        Action.TAKE_OVER: f"🔁 {who} took over this ticket"
        + (f" from <@{change.previous}>." if change.previous else "."),
        Action.FUND: f"💰 Payment received: {who} confirmed the buyer's payment of {amount}. It is held in escrow.",
        Action.CANCEL: f"🚫 Order cancelled by {who}. No payment is held in escrow.",
        Action.DELIVER: "📦 The marketplace reports the work delivered."
        if by_market
        else f"📦 {who} marked the work delivered.",
        Action.APPROVE: "👍 The buyer accepted the work on the marketplace."
        if by_market
        else f"👍 {who} approved the work.",
        Action.RELEASE: f"✅ {amount} released to the freelancer by {who}.",
        Action.REFUND: f"↩️ {amount} refunded to the buyer by {who}.",
        Action.DISPUTE: f"⚖️ {who} opened a dispute. The payment stays in escrow until a {OFFICER} decides.",
    }
    text = texts.get(change.action, f"{who}: the order is now {change.target.label}.")
    if change.note:
        text += f" {_note_label(change)}\n{quote(change.note[:900])}"
    return text


def quote(note: str) -> str:
    """Every line of a person's note as a quote, so no line can pass for the bot's own."""
    return "\n".join(f"> {part}" for part in note.splitlines() or [""])


def news(notice: Notice, snapshot: TicketSnapshot) -> str | None:
    """What happened, for one person (None: nothing but their turn)."""
    ticket, who = snapshot.ticket, _who(notice)
    if notice.joined is not None:
        return f"<@{notice.joined}> joined the ticket as the buyer."
    texts = {
        Action.FUND: "the buyer's payment is confirmed and held in escrow.",
        Action.DELIVER: "the work is marked delivered.",
        Action.APPROVE: f"the buyer approved the work. A {OFFICER} releases the payment next.",
        Action.RELEASE: f"the payment was released to the freelancer <@{ticket.freelancer_id}>.",
        Action.REFUND: "the payment was refunded to the buyer"
        + (f" <@{ticket.buyer_id}>." if ticket.buyer_id else "."),
        Action.CANCEL: f"the order was cancelled by {who}. No payment is held in escrow.",
        Action.DISPUTE: f"{who} opened a dispute. The payment stays in escrow until a {OFFICER} decides; post "
        "your side and any proof in the ticket.",
        Action.TAKE_OVER: f"{who} took over this ticket from you. You don't need to do anything more on it.",
    }
    return texts.get(notice.action) if notice.action is not None else None


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
        facts = SummaryFacts.of(ticket, order, state, approved=approved, checks=checks_passed(order, ticket))
        try:
            view = controls_for(order.id, state, ticket.claimed_by)
            await channel.get_partial_message(ticket.summary_message_id).edit(
                content=summary_content(), embed=summary_embed(facts), view=view
            )
        except discord.NotFound:
            raise ChannelGoneError(order.id) from None

    async def post_line(self, snapshot: TicketSnapshot, change: Line) -> None:
        channel = await self._channel(snapshot)
        mentions = discord.AllowedMentions.none()
        text = line(change, money(snapshot.order.amount, snapshot.order.currency), snapshot.order.id)
        if change.ping:
            role = officer_role(channel.guild, snapshot.officer_role_id, self._bot.settings.officer_role_name)
            if role is not None:
                text = f"{role.mention} {text}"
                mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role])
        await channel.send(text, allowed_mentions=mentions)

    async def tell(self, snapshot: TicketSnapshot, notice: Notice) -> None:
        """Tell one person the news and, if it still is, their turn: a DM, else a mention in the ticket."""
        channel = await self._channel(snapshot)
        body = self._body(snapshot, notice)
        if body is None:
            log.info("notice to user %s on order %s is no longer true; not sent", notice.user_id, snapshot.order.id)
            return
        link = ticket_link(channel.guild.id, channel.id)
        try:
            user = self._bot.get_user(notice.user_id) or await self._bot.fetch_user(notice.user_id)
            await user.send(dm_text(channel.guild.name, body, link=link))
        except discord.Forbidden:
            mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(notice.user_id)])
            await channel.send(fallback_text(notice.user_id, body), allowed_mentions=mention)

    async def remove_party(self, snapshot: TicketSnapshot, removal: Removal) -> None:
        """A party whose email changed: first told to verify again (a DM; a mention in the ticket, while they can
        still read it, when their DMs are closed), then, as the next effect, their permission overwrite removed."""
        channel = await self._channel(snapshot)
        order = snapshot.order
        if removal.tell:
            body = f"**Order {order.id} · {money(order.amount, order.currency)}:** {reverify_text(removal, order.id)}"
            try:
                user = self._bot.get_user(removal.user_id) or await self._bot.fetch_user(removal.user_id)
                await user.send(dm_text(channel.guild.name, body))
            except discord.Forbidden:
                mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(removal.user_id)])
                await channel.send(fallback_text(removal.user_id, body), allowed_mentions=mention)
            except discord.NotFound:
                log.info("user %s of order %s is gone; nobody to tell", removal.user_id, order.id)
            return
        try:  # by id: with the default intents the member is not cached, and one who left still has an overwrite
            await self._bot.http.delete_channel_permissions(
                channel.id, removal.user_id, reason=f"The {removal.side.value} email of order {order.id} changed"
            )
        except discord.NotFound as exc:
            if exc.code == UNKNOWN_CHANNEL:
                raise ChannelGoneError(order.id) from None
            log.info("user %s had no access to the ticket of order %s left to remove", removal.user_id, order.id)

    async def post_log(self, notice: LogNotice) -> None:
        """A notice to the officers in the server's log channel; a channel that is gone drops it."""
        guild = self._bot.get_guild(notice.guild_id)
        channel = guild.get_channel(notice.channel_id) if guild is not None else None
        if guild is None or not isinstance(channel, discord.TextChannel):
            raise ChannelGoneError(f"log channel {notice.channel_id}")
        role = officer_role(guild, notice.officer_role_id, self._bot.settings.officer_role_name)
        role = role if notice.ping else None  # a record (the audit chain's daily anchor) calls nobody
        text, mentions = notice.text, discord.AllowedMentions.none()
        if role is not None:
            text = f"{role.mention} {text}"
            mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role], replied_user=False)
        await channel.send(text, allowed_mentions=mentions)

    async def timer_notice(self, snapshot: TicketSnapshot, notice: TimerNotice) -> None:
        """A fired timer's message: the buyer's reminder by DM (a mention in the ticket if DMs are closed); the
        others in the ticket, a dispute's escalation in the log channel (the ticket without one), pinging the
        officer role and, for a late delivery, the freelancer; nobody else."""
        channel = await self._channel(snapshot)
        text = reminder(notice, snapshot)
        if notice.kind is TimerKind.APPROVAL_REMINDER and snapshot.ticket.buyer_id is not None:
            await self._dm_or_mention(channel, snapshot.ticket.buyer_id, text)
            return
        target: discord.abc.Messageable = channel
        if notice.kind is TimerKind.DISPUTE_ESCALATION and notice.log_channel_id is not None:
            log_channel = channel.guild.get_channel(notice.log_channel_id)
            if isinstance(log_channel, discord.TextChannel):
                target = log_channel
        users = [discord.Object(snapshot.ticket.freelancer_id)] if notice.kind is TimerKind.DELIVERY_OVERDUE else []
        roles: list[discord.Role] = []
        role = officer_role(channel.guild, snapshot.officer_role_id, self._bot.settings.officer_role_name)
        if role is not None and notice.kind in PINGS_OFFICERS:
            text, roles = f"{role.mention} {text}", [role]
        mentions = discord.AllowedMentions(everyone=False, users=users or False, roles=roles or False)
        await target.send(text, allowed_mentions=mentions)

    async def _dm_or_mention(self, channel: discord.TextChannel, user_id: int, body: str) -> None:
        try:
            user = self._bot.get_user(user_id) or await self._bot.fetch_user(user_id)
            await user.send(dm_text(channel.guild.name, body, link=ticket_link(channel.guild.id, channel.id)))
        except discord.Forbidden:
            mention = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(user_id)])
            await channel.send(fallback_text(user_id, body), allowed_mentions=mention)

    @staticmethod
    def _body(snapshot: TicketSnapshot, notice: Notice) -> str | None:
        order, escrow = snapshot.order, snapshot.escrow
        state = State(escrow.state) if escrow is not None else State.AWAITING_FUNDING
        approved = escrow is not None and escrow.approved_at is not None
        lines = []
        if (said := news(notice, snapshot)) is not None:
            lines.append(f"**Order {order.id} · {money(order.amount, order.currency)}:** {said}")
        if notice.turn is not None and still_their_turn(notice.turn, state, approved=approved):
            lines.append(f"**Your turn** (order {order.id}): {turn_text(notice.turn, state)}")
        return "\n".join(lines) or None
