"""How a ticket looks in Discord: its channel name, and its summary, the one message that is always true.

The summary is rebuilt whole from the order as it is (`summary_embed`, `summary_content`) when the ticket
opens, on every escrow change and on every join; `/guarantee status` shows the same embed with the history
added (`cogs.tickets._replies.status_embed`). Its layout, top to bottom: the safety notice (the message's
text, so it is the first thing anyone reads, and the message is pinned), then the **Next** block (who acts
next and how), then the terms, the people, the checks.

Other features add to it without changing it: `SummaryFacts.notes` (lines under the Next block, e.g. terms
that changed) and `SummaryFacts.fields` (extra fields before the checks, e.g. how an email was proven).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import discord

from bot.db.models import Order, Ticket
from bot.services.escrow.rules import State
from bot.services.tickets.verification import mask_email, mask_emails_in
from bot.services.vocabulary import OFFICER, SAFETY_NOTICE, capitalised, money
from cogs.tickets._next import Standing, next_block

CHANNEL_PREFIX = "guarantee-"
ESCROW_FIELD = "Escrow"  # the field that says where the payment is (the harness reads it)
SAFETY_LINE = f"🛡️ **Safety:** {SAFETY_NOTICE}"


def channel_name(order_id: str) -> str:
    """A name Discord accepts as it is: lower case, 1-100 of letters, digits, `-` and `_`."""
    return f"{CHANNEL_PREFIX}{order_id.lower()}"[:100]


def channel_topic(order_id: str) -> str:
    return f"Guarantee ticket for order {order_id}"


def summary_title(order_id: str) -> str:
    return _clip(f"Guarantee ticket · order {order_id}", 256)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class SummaryFacts:
    """Everything a summary shows, read from the database when it is built."""

    ticket: Ticket
    order: Order
    state: State = State.AWAITING_FUNDING
    approved: bool = False
    checks: Sequence[str] = ()
    notes: Sequence[str] = ()  # extra lines under the Next block (other features: terms changes, ...)
    fields: Sequence[tuple[str, str]] = ()  # extra (name, value) fields before the checks

    @classmethod
    def of(
        cls, ticket: Ticket, order: Order, state: str | None, *, approved: bool = False, checks: Sequence[str] = ()
    ) -> SummaryFacts:
        return cls(
            ticket, order, State(state or State.AWAITING_FUNDING), approved, tuple(checks), terms_notes(ticket, order)
        )

    @property
    def standing(self) -> Standing:
        ticket, order = self.ticket, self.order
        return Standing(
            order.id, self.state, self.approved, None if ticket.freelancer_unverified else ticket.freelancer_id,
            ticket.buyer_id, ticket.claimed_by,
            money(order.amount, order.currency), mask_emails_in(order.buyer_name) if order.buyer_name else None,
        )  # fmt: skip


def terms_notes(ticket: Ticket, order: Order) -> tuple[str, ...]:
    """Lines under the Next block after the marketplace changed the terms: that it did, and who must verify again."""
    notes = []
    if order.terms_version > 1:
        notes.append(
            "📝 The marketplace changed this order's terms after they were first agreed: the terms below are the "
            "current ones. Check them before acting."
        )
    if ticket.freelancer_unverified:
        notes.append(
            f"⚠️ The freelancer's email on the order changed: <@{ticket.freelancer_id}> was taken out of this "
            "ticket. The freelancer must verify again with `/guarantee open` (the new email and the gig link)."
        )
    return tuple(notes)


def escrow_value(state: State, *, approved: bool = False) -> str:
    """The Escrow field: where the payment is, in words, and whether the buyer approved the work."""
    return capitalised(state.label) + (" · buyer approved the work" if approved else "")


def summary_content(*, ping: discord.Role | None = None) -> str:
    """The summary message's text: the safety notice, first (the officer role's ping only when the ticket opens)."""
    return f"{SAFETY_LINE}\n{ping.mention} New ticket: a {OFFICER} is needed." if ping else SAFETY_LINE


def summary_embed(facts: SummaryFacts, *, title: str | None = None) -> discord.Embed:
    """The ticket's summary, whole: the Next block, the escrow, the terms, the people, the checks."""
    order, ticket = facts.order, facts.ticket
    description = "\n".join([next_block(facts.standing), *facts.notes])
    embed = discord.Embed(
        title=_clip(title or summary_title(order.id), 256),
        description=_clip(description, 4096),
        colour=discord.Colour.blurple(),
        url=order.gig_url,
    )
    embed.add_field(name=ESCROW_FIELD, value=escrow_value(facts.state, approved=facts.approved))
    embed.add_field(name="Amount", value=money(order.amount, order.currency))
    embed.add_field(name="Delivery due", value=discord.utils.format_dt(order.delivery_due, "F"))
    freelancer = None if ticket.freelancer_unverified else ticket.freelancer_id
    embed.add_field(name="Freelancer", value=_party(freelancer, order.seller_name, order.seller_email))
    embed.add_field(name="Buyer", value=_party(ticket.buyer_id, order.buyer_name, order.buyer_email))
    officer = f"<@{ticket.claimed_by}>" if ticket.claimed_by else "not claimed yet"
    embed.add_field(name=OFFICER, value=officer)
    embed.add_field(name="Deliverables", value=_clip(mask_emails_in(order.deliverables), 1024), inline=False)
    for name, value in facts.fields:
        embed.add_field(name=_clip(name, 256), value=_clip(value, 1024), inline=False)
    checks = "\n".join(f"✅ {check}" for check in facts.checks)
    if checks:
        embed.add_field(name="Checks", value=_clip(checks, 1024), inline=False)
    return embed


def _party(user_id: int | None, name: str | None, email: str) -> str:
    """A party as the marketplace knows them (email masked) and, once they are here, their Discord account."""
    masked = mask_email(email)
    known = f"{mask_emails_in(name)} ({masked})" if name else masked  # a name may hold an email: masked too
    here = f"<@{user_id}>" if user_id else "not joined yet"
    return _clip(f"{here}\n{known}", 1024)
