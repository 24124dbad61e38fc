"""New terms before funding (PRODUCT.md §4): nobody acts on terms they have not seen.

The order book calls `MarketplaceEscrow.take_new_terms` when an `order.updated` carries terms that differ from
the current ones (`events.terms.compare`). In the event's transaction:

* the escrow's version goes up, atomically with the check that no payment is held yet (else the terms are
  frozen: recorded and flagged, never applied). Questions, forms and their **Yes** buttons carry the version
  they were opened on, so one opened on the old terms is refused, saying the terms changed;
* an audit entry, action `terms`, from and to `awaiting_funding`, whose note holds the old and the new terms'
  canonical digests (`events.terms.terms_digest`);
* a changed seller or buyer email voids that party's verification: codes mailed to the old address expire,
  the buyer's seat on the ticket is emptied (`/guarantee join` works again, for the new email), the
  freelancer's is marked unverified (whoever proves the new email with `/guarantee open` takes it);
* if the order has a ticket: its summary is rebuilt, a line says what changed (was, now; emails masked) and
  pings the officer role, and each voided party is told to verify again, then taken out of the channel.

Without a ticket yet, only the version and the audit entry: the ticket opens on the new terms.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.repos import escrow as escrow_repo
from bot.db.repos import proofs as proof_repo
from bot.db.repos import tickets as ticket_repo
from bot.services import outbox
from bot.services.escrow import audit
from bot.services.escrow.announcements import Line, Removal
from bot.services.escrow.results import MARKETPLACE, Change, view_of
from bot.services.escrow.rules import Action, Role, State
from bot.services.events.terms import Terms, TermsChange
from bot.services.guilds import config_of
from bot.services.outbox import Effect, Kind
from bot.services.tickets.proof import Purpose
from bot.services.tickets.verification import mask_email, mask_emails_in
from bot.services.vocabulary import money

SHOWN_TEXT = 300  # how much of the deliverables a line shows, before and after


async def take(session: AsyncSession, order_id: str) -> int | None:
    """Bump the escrow's version for new terms if no payment is held yet; None: the terms are frozen."""
    return await escrow_repo.take_new_terms(session=session, order_id=order_id, state=State.AWAITING_FUNDING.value)


async def record(
    session: AsyncSession, *, order_id: str, old: Terms, new: Terms, change: TermsChange, version: int, event_id: str
) -> Change:
    """Everything new terms do besides the order itself (the version is already taken, see `take`)."""
    state = State.AWAITING_FUNDING
    note = f"terms sha256 was {change.old_digest}, now {change.new_digest}"
    entry = await audit.append(
        session=session,
        record=audit.Record(order_id, Action.TERMS, MARKETPLACE, Role.MARKETPLACE, state, state, note, event_id),
    )
    if change.buyer_changed:
        await proof_repo.void_for_order(session=session, order_id=order_id, purpose=Purpose.JOIN.value)
    if change.seller_changed:
        await proof_repo.void_for_order(session=session, order_id=order_id, purpose=Purpose.OPEN.value)
    result = Change(order_id, Action.TERMS, MARKETPLACE, Role.MARKETPLACE, state, state, version, note, event_id,
                    entry.seq, money=money(new.amount, new.currency))  # fmt: skip
    ticket = await ticket_repo.for_order(session=session, order_id=order_id, fresh=True)
    if ticket is None:
        return result
    removals = []
    if change.buyer_changed and ticket.buyer_id is not None:
        removals.append(Removal(ticket.buyer_id, Role.BUYER))
    if change.seller_changed and not ticket.freelancer_unverified:
        removals.append(Removal(ticket.freelancer_id, Role.FREELANCER))
    if removals:
        await ticket_repo.unseat(
            session=session, ticket_id=int(ticket.id or 0), buyer=change.buyer_changed,
            freelancer=change.seller_changed,
        )  # fmt: skip
        ticket = await ticket_repo.for_order(session=session, order_id=order_id, fresh=True)
        assert ticket is not None
    line = Line(Action.TERMS, MARKETPLACE, Role.MARKETPLACE, state, state, ping=True, changes=shown(old, new, change))
    seq = entry.seq
    effects = [
        Effect(order_id, Kind.REFRESH_SUMMARY, f"summary:{order_id}:{seq}"),
        Effect(order_id, Kind.POST_LINE, f"line:{order_id}:{seq}", line.payload()),
        *(
            Effect(order_id, Kind.REMOVE_PARTY, f"remove:{order_id}:{seq}:{gone.user_id}:{step}", payload)
            for gone in removals
            for step, payload in (("tell", replace(gone, tell=True).payload()), ("out", gone.payload()))
        ),
    ]
    ids = await outbox.write(session, effects)
    view = view_of(ticket, await config_of(session, ticket.guild_id), ticket.claimed_by)
    return Change(
        order_id, Action.TERMS, MARKETPLACE, Role.MARKETPLACE, state, state, version, note, event_id, entry.seq,
        ticket=view, effect_ids=tuple(ids), money=result.money,
    )  # fmt: skip


def shown(old: Terms, new: Terms, change: TermsChange) -> tuple[tuple[str, str, str], ...]:
    """(field, was, now) for each changed term, as a line may show it: emails masked, long text clipped."""
    return tuple((name, _shown(name, old), _shown(name, new)) for name in change.fields)


def _shown(name: str, terms: Terms) -> str:
    if name == "amount":
        return money(terms.amount, terms.currency)
    if name == "delivery_due":
        return terms.delivery_due.isoformat()
    if name == "deliverables":
        text = mask_emails_in(terms.deliverables)
        return text if len(text) <= SHOWN_TEXT else text[: SHOWN_TEXT - 1] + "…"
    if name == "gig":
        return terms.gig_url
    return mask_email(terms.seller_email if name == "seller_email" else terms.buyer_email)
