"""What the `/guarantee` replies look like."""

from __future__ import annotations

import discord

from bot.services.escrow.rules import State
from bot.services.tickets.queries import OrderStatus, QueuePage
from bot.services.tickets.service import OpenResult, OpenStatus
from cogs.tickets._summary import terms_embed


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
    until = discord.utils.format_dt(result.expires_at, "f") if result.expires_at else f"{pending_hours} hours"
    return (
        "⏳ The marketplace has not confirmed an agreed order for this gig yet. I kept your request: "
        f"the ticket opens by itself as soon as the order arrives (until {until}), and I will tell you by DM. "
        "Nothing else to do for now."
    )


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
