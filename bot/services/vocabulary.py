"""The words people read, written once: docs/VOCABULARY.md explains each, and every text a user reads
(replies, refusals, the ticket summary, status lines, DMs) is built from these. No internal name (a state
as the database spells it, an event type, a version) reaches a user; `tests/cogs/test_walk.py` checks it.

Plain text only (no discord import): the services word their refusals with it, the cogs their messages.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

BOT = "Guarantor"
OFFICER = "Guarantor Officer"
OFFICERS = "Guarantor Officers"
TICKET = "ticket"

# Escrow states (`rules.State`) as people read them: "order ord_1 is now <words>".
STATE_WORDS: dict[str, str] = {
    "awaiting_funding": "waiting for payment",
    "funded": "payment held in escrow",
    "delivered": "work delivered",
    "disputed": "in dispute",
    "released": "released to the freelancer",
    "refunded": "refunded to the buyer",
    "cancelled": "cancelled",
}

# Who someone is on an order (`rules.Role`), as a label after their name: "<@1> (buyer)".
ROLE_WORDS: dict[str, str] = {
    "officer": OFFICER,
    "buyer": "buyer",
    "freelancer": "freelancer",
    "marketplace": "the marketplace",
    "outsider": "not part of this order",
}

# Ticket states (`TicketState`) as people read them.
TICKET_STATE_WORDS: dict[str, str] = {
    "opening": "being opened",
    "open": "open",
    "orphaned": "channel deleted (the freelancer can open it again with `/guarantee open`)",
    "closing": "being closed",
    "closed": "closed",
}

SAFETY_NOTICE = (
    f"{OFFICERS} never DM you first and never ask you to pay outside this {TICKET}. "
    "Check anyone who says they are an officer with `/guarantee officer`."
)
NEVER_ASK_IN_DMS = "I never ask for money in DMs."
AUTOMATIC = "Automatic notice"


def state_words(state: str | None) -> str:
    """An escrow state in words; no state yet reads as waiting for payment."""
    return STATE_WORDS[state or "awaiting_funding"]


def state_of_words(words: str) -> str:
    """The state whose words these are (the reverse of `state_words`), for readers of a summary."""
    wanted = words.strip().lower()
    return next(state for state, shown in STATE_WORDS.items() if shown == wanted)


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def money(amount: Decimal | str, currency: str) -> str:
    """`120.50 USD`: the amount as agreed, then its currency."""
    return f"{amount} {currency}"


def relative_time(when: datetime) -> str:
    """Discord shows `<t:…:R>` in each reader's own words and time zone ("in 2 minutes")."""
    return f"<t:{int(when.timestamp())}:R>"


def full_time(when: datetime) -> str:
    """Discord shows `<t:…:f>` as a date and time in the reader's own time zone."""
    return f"<t:{int(when.timestamp())}:f>"


def join_command(order_id: str) -> str:
    return f"`/guarantee join order_id:{order_id}`"


# What each escrow action does (`rules.Action`), as a verb phrase: "Only a Guarantor Officer can <words>."
ACTION_WORDS: dict[str, str] = {
    "claim": "claim this ticket",
    "take_over": "take over this ticket",
    "fund": "confirm the buyer's payment",
    "cancel": "cancel the order",
    "deliver": "mark the work delivered",
    "approve": "approve the work",
    "release": "release the payment to the freelancer",
    "refund": "refund the payment to the buyer",
    "dispute": "open a dispute",
}

# The terms of an order (`events.terms.FIELDS`), as a line about changed terms names them.
TERM_WORDS: dict[str, str] = {
    "amount": "Amount",
    "delivery_due": "Delivery due",
    "deliverables": "Deliverables",
    "gig": "Gig",
    "seller_email": "Freelancer's email",
    "buyer_email": "Buyer's email",
}
