"""How a ticket looks in Discord: its channel name, the summary embed, the safety notice."""

from __future__ import annotations

import discord

from bot.db.models import Order, Ticket
from bot.services.escrow.rules import State
from bot.services.tickets.verification import mask_email, mask_emails_in

SAFETY_NOTICE = (
    "Officers never DM first and never ask you to pay outside this ticket. "
    "Check anyone who claims to be an officer with `/guarantee officer`."
)
CHANNEL_PREFIX = "guarantee-"


def channel_name(order_id: str) -> str:
    """A name Discord accepts as it is: lower case, 1-100 of letters, digits, `-` and `_`."""
    return f"{CHANNEL_PREFIX}{order_id.lower()}"[:100]


def channel_topic(order_id: str) -> str:
    return f"Guarantee ticket for order {order_id}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def terms_embed(order: Order, *, title: str, escrow_state: str | None = None) -> discord.Embed:
    """The order's terms; every email masked, all user text inside the embed (embeds never ping)."""
    embed = discord.Embed(title=_clip(title, 256), colour=discord.Colour.blurple(), url=order.gig_url)
    embed.add_field(name="Amount", value=f"{order.amount} {order.currency}")
    embed.add_field(name="Delivery due", value=discord.utils.format_dt(order.delivery_due, "F"))
    embed.add_field(name="Escrow", value=State(escrow_state or State.AWAITING_FUNDING).label)
    embed.add_field(name="Seller", value=_party(order.seller_name, order.seller_email))
    embed.add_field(name="Buyer", value=_party(order.buyer_name, order.buyer_email))
    embed.add_field(name="Terms version", value=str(order.terms_version))
    embed.add_field(name="Deliverables", value=_clip(mask_emails_in(order.deliverables), 1024), inline=False)
    return embed


def _party(name: str | None, email: str) -> str:
    """A party's name as the marketplace sent it (any email in it masked), and their email masked."""
    masked = mask_email(email)
    return _clip(f"{mask_emails_in(name)} ({masked})", 1024) if name else masked


def summary_title(order_id: str) -> str:
    return _clip(f"Guarantee ticket · order {order_id}", 256)


def escrow_value(state: str | None, *, approved: bool = False, claimed_by: int | None = None) -> str:
    """The summary's Escrow field: the state in words, the buyer's approval, the officer who claimed it."""
    value = State(state or State.AWAITING_FUNDING).label + (" · buyer approved" if approved else "")
    return value + (f" · claimed by <@{claimed_by}>" if claimed_by else "")


def summary_embed(
    ticket: Ticket, order: Order, checks: list[str], *, escrow_state: str | None = None, approved: bool = False
) -> discord.Embed:
    """The ticket's summary, whole: terms, the escrow, people, the checks passed and the safety notice."""
    embed = terms_embed(order, title=summary_title(order.id), escrow_state=escrow_state)
    index = next(i for i, f in enumerate(embed.fields) if f.name == "Escrow")
    embed.set_field_at(
        index, name="Escrow", value=escrow_value(escrow_state, approved=approved, claimed_by=ticket.claimed_by)
    )
    people = f"Freelancer: <@{ticket.freelancer_id}>\nBuyer: " + (
        f"<@{ticket.buyer_id}>" if ticket.buyer_id else "not joined yet (`/guarantee join`)"
    )
    embed.add_field(name="Parties on Discord", value=people, inline=False)
    embed.add_field(name="Checks passed", value="\n".join(f"✅ {check}" for check in checks) or "—", inline=False)
    embed.add_field(name="Safety notice", value=SAFETY_NOTICE, inline=False)
    return embed
