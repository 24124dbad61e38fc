"""What the `/guarantee` replies look like."""

from __future__ import annotations

import discord

from bot.db.models import Ticket
from bot.services.escrow.rules import State
from bot.services.tickets.queries import OrderStatus, QueuePage
from bot.services.tickets.service import OpenResult, OpenStatus
from cogs.tickets._summary import terms_embed

# Email proof (PRODUCT.md §3): the same answer whether or not the email matched an order.
CODE_SENT_OPEN = (
    "📧 If this email and gig link match an agreed order, I mailed a 6-digit code to the email registered for it "
    "on the marketplace. Press **Enter code** and type it (valid for 10 minutes). If the marketplace has not "
    "confirmed the order yet, I kept your request and will tell you by DM when it arrives."
)
CODE_SENT_JOIN = (
    "📧 If this order id and email match an agreed order, I mailed a 6-digit code to the buyer email registered "
    "for it on the marketplace. Press **Enter code** and type it (valid for 10 minutes)."
)
ENTER_CODE = "Enter code"
CODE_FORM_TITLE = "Enter your email code"
CODE_FORM_LABEL = "The 6-digit code from the email"


def open_reply(result: OpenResult, pending_hours: int) -> str:
    channel = f"<#{result.channel_id}>" if result.channel_id else ""
    if result.status is OpenStatus.OPENED:
        return f"✅ Checks passed. Your guarantee ticket for order {result.order_id} is open: {channel}"
    if result.status is OpenStatus.EXISTS:
        return f"Order {result.order_id} already has a guarantee ticket: {channel}"
    if result.status is OpenStatus.OPENING:
        return (
            f"The ticket for order {result.order_id} is being opened right now. "
            "I will tell you by DM as soon as it is ready."
        )
    # The same answer for an order not confirmed yet and for an email or link that matches none.
    return (
        "⏳ I could not open a ticket for this email and gig link. If the marketplace has not confirmed your order "
        f"yet, I kept your request: the ticket opens by itself when it arrives (within {pending_hours} hours), and "
        "I will tell you by DM. If it was agreed already, check that you used the email of your marketplace "
        "account and the order's gig link."
    )


def joined_reply(ticket: Ticket) -> str:
    return f"✅ Email checked. You joined the ticket of order {ticket.order_id}: <#{ticket.channel_id}>"


def status_embed(status: OrderStatus) -> discord.Embed:
    order, ticket = status.order, status.ticket
    embed = terms_embed(order, title=f"Order {order.id}", escrow_state=status.escrow_state)
    if ticket is None:
        where = "no ticket yet (the freelancer opens it with `/guarantee open`)"
    else:
        where = f"{ticket.state}" + (f" · <#{ticket.channel_id}>" if ticket.channel_id else "")
        where += f"\nFreelancer: <@{ticket.freelancer_id}> · Buyer: " + (
            f"<@{ticket.buyer_id}>" if ticket.buyer_id else "not joined"
        )
    embed.add_field(name="Ticket", value=where, inline=False)
    history = [f"{discord.utils.format_dt(when, 'f')} · {kind}" for kind, when in status.events[-10:]] or ["—"]
    embed.add_field(name="History", value="\n".join(history)[:1024], inline=False)
    return embed


def queue_embed(page: QueuePage, state: str | None) -> discord.Embed:
    title = "Guarantee queue" + (f" · {state}" if state else "")
    embed = discord.Embed(title=title, colour=discord.Colour.gold())
    if not page.items:
        embed.description = "Nothing waiting. 🎉"
    for item in page.items:
        ticket, order = item.ticket, item.order
        claimed = f"claimed by <@{ticket.claimed_by}>" if ticket.claimed_by else "**unclaimed**"
        where = f"<#{ticket.channel_id}>" if ticket.channel_id else ticket.state
        embed.add_field(
            name=f"{order.id} · {order.amount} {order.currency}"[:256],
            value=(
                f"{where} · escrow {State(item.escrow_state or State.AWAITING_FUNDING).label} · {claimed}\n"
                f"opened {discord.utils.format_dt(ticket.created_at, 'R')}"
            ),
            inline=False,
        )
    embed.set_footer(text=f"Page {page.page}/{page.pages} · {page.total} ticket(s) · unclaimed first, then oldest")
    return embed
