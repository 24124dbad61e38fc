"""What the `/guarantee` replies look like."""

from __future__ import annotations

import discord

from bot.db.models import Ticket, TicketState
from bot.services.escrow.rules import State
from bot.services.tickets.queries import OrderStatus, QueuePage, Step
from bot.services.tickets.service import Joined, OpenResult, OpenStatus
from bot.services.tickets.verification import checks_passed
from bot.services.vocabulary import OFFICER, ROLE_WORDS, TICKET_STATE_WORDS, join_command, money
from cogs.tickets._summary import SummaryFacts, summary_embed

_BUYER_NEXT = (
    "Next: ask the buyer to run {join} in this server with the email of their marketplace account. "
    f"A {OFFICER} then claims the ticket and posts payment instructions there."
)

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
    then = _BUYER_NEXT.format(join=join_command(result.order_id or ""))
    if result.status is OpenStatus.OPENED:
        return f"✅ Checks passed. Your ticket for order {result.order_id} is open: {channel}\n{then}"
    if result.status is OpenStatus.REJOINED:
        return (
            f"✅ Checks passed. You are now the freelancer of order {result.order_id}, and back in its ticket: "
            f"{channel}. Read the summary there: the terms changed."
        )
    if result.status is OpenStatus.EXISTS:
        return f"Order {result.order_id} already has a ticket: {channel}. Everything happens there."
    if result.status is OpenStatus.OPENING:
        return (
            f"The ticket for order {result.order_id} is being opened right now. "
            "I will tell you by DM as soon as it is ready; nothing else to do for now."
        )
    # The same answer for an order not confirmed yet and for an email or link that matches none.
    return (
        "⏳ I could not open a ticket for this email and gig link. If the marketplace has not confirmed your order "
        f"yet, I kept your request: the ticket opens by itself when it arrives (within {pending_hours} hours), and "
        "I will tell you by DM. If it was agreed already, check that you used the email of your marketplace "
        "account and the order's gig link."
    )


def join_reply(joined: Joined) -> str:
    ticket = joined.ticket
    where = f"<#{ticket.channel_id}>"
    if joined.already:
        return f"You're already in the ticket of order {ticket.order_id}: {where}. Nothing else to do here."
    how = "Your email is proven" if ticket.buyer_proven else "Your email matches the order's buyer email"
    return (
        f"✅ {how}: you joined the ticket of order {ticket.order_id}: {where}\n"
        f"Next: a {OFFICER} posts payment instructions there. Pay only as posted in the ticket, never by DM."
    )


def status_embed(status: OrderStatus) -> discord.Embed:
    """The same embed as the ticket's summary (so they never disagree), with where the ticket is and the history."""
    order, ticket = status.order, status.ticket
    facts = SummaryFacts.of(
        ticket, order, status.escrow_state, approved=status.approved, checks=checks_passed(order, ticket)
    )
    embed = summary_embed(facts, title=f"Order {order.id}")
    embed.add_field(name="Ticket", value=_where(status.ticket), inline=False)
    history = [f"{discord.utils.format_dt(step.when, 'f')} · {_step(step)}" for step in status.events[-10:]] or ["—"]
    embed.add_field(name="History", value="\n".join(history)[:1024], inline=False)
    return embed


def _where(ticket: Ticket) -> str:
    if ticket.state == TicketState.OPEN and ticket.channel_id:
        return f"<#{ticket.channel_id}>"
    return TICKET_STATE_WORDS[ticket.state]


_EVENTS = {"order.agreed": "Terms agreed on the marketplace", "order.updated": "New terms from the marketplace"}
_ACTIONS = {
    "claim": "Ticket claimed",
    "take_over": "Ticket taken over",
    "fund": "Buyer's payment confirmed, held in escrow",
    "cancel": "Order cancelled",
    "deliver": "Work marked delivered",
    "approve": "Work approved",
    "release": "Payment released to the freelancer",
    "refund": "Payment refunded to the buyer",
    "dispute": "Dispute opened",
    "flag": "Flagged for officers",
    "terms": "Terms changed before payment",
}


def _step(step: Step) -> str:
    """One step of the history in words: what happened, and who did it."""
    if step.actor is None:
        return _EVENTS.get(step.what, "A message from the marketplace")
    what = _ACTIONS.get(step.what, "Changed")
    if step.actor == "marketplace":
        return f"{what} by the marketplace"
    role = ROLE_WORDS.get(step.role or "", "")
    return f"{what} by <@{step.actor}>" + (f" ({role})" if role else "")


def queue_embed(page: QueuePage, state: str | None) -> discord.Embed:
    title = "Guarantee queue" + (f" · {_state_words(state)}" if state else "")
    embed = discord.Embed(title=title, colour=discord.Colour.gold())
    if not page.items:
        embed.description = "Nothing waiting. 🎉"
    for item in page.items:
        ticket, order = item.ticket, item.order
        claimed = f"claimed by <@{ticket.claimed_by}>" if ticket.claimed_by else "**not claimed yet**"
        where = f"<#{ticket.channel_id}>" if ticket.channel_id else TICKET_STATE_WORDS[ticket.state]
        embed.add_field(
            name=f"{order.id} · {money(order.amount, order.currency)}"[:256],
            value=(
                f"{where} · escrow: {State(item.escrow_state or State.AWAITING_FUNDING).label} · {claimed}\n"
                f"opened {discord.utils.format_dt(ticket.created_at, 'R')}"
            ),
            inline=False,
        )
    embed.set_footer(text=f"Page {page.page}/{page.pages} · {page.total} ticket(s) · not claimed first, then oldest")
    return embed


def _state_words(state: str) -> str:
    if state in TICKET_STATE_WORDS:
        return f"tickets {TICKET_STATE_WORDS[state].split(' (')[0]}"
    return f"escrow {State(state).label}"
