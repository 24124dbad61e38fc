"""Applying marketplace events to orders, and handing each one on to the tickets and the escrow.

Events arrive out of order and more than once, so every rule here is idempotent:
terms are versioned by the event that carried them and ordered by `agreed_at` (newer terms that are the
same, by their canonical digest `events.terms.terms_digest`, change nothing; other ones before funding
go through `MarketplaceEscrow.take_new_terms`, after funding they are flagged, never applied); facts
(delivered, completed, cancelled) are recorded once; an event about an order whose
agreement has not arrived yet waits for it instead of being lost.

After the order itself, the book calls the next steps by name, in the same transaction:
waiting ticket requests are resolved (`tickets.requests`) and the escrow reacts
(`MarketplaceEscrow`). Their Discord effects are written to the outbox in the same transaction;
`AppliedEvent` says what was written, so the processor can wake the workers after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Order, OrderTerms
from bot.db.repos import orders as order_repo
from bot.db.types import utcnow
from bot.services.escrow.marketplace import MarketplaceEscrow
from bot.services.escrow.results import Change
from bot.services.events.contract import CancelledData, CompletedData, DeliveredData, MarketplaceEvent, TermsData
from bot.services.events.terms import compare
from bot.services.outbox import Effect
from bot.services.tickets import requests
from bot.services.tickets.links import gig_key
from bot.services.timers.schedule import DEFAULT_PERIODS, TimerPeriods


class Outcome(StrEnum):
    CREATED = "created"  # first terms: the order exists now
    TERMS_APPLIED = "terms_applied"  # newer, different terms replaced the current ones (before funding)
    TERMS_UNCHANGED = "terms_unchanged"  # recorded; newer, but the same terms (canonical digest): nothing changes
    TERMS_STALE = "terms_stale"  # recorded; older than the current terms
    TERMS_LOCKED = "terms_locked"  # recorded and flagged; the escrow is funded, terms are frozen
    FACT_RECORDED = "fact_recorded"  # delivered / completed / cancelled noted on the order
    ALREADY_APPLIED = "already_applied"  # this event's effect is already there
    WAITING = "waiting"  # the order is not known yet
    IGNORED = "ignored"  # unknown type: stored, no effect


@dataclass(frozen=True, slots=True)
class AppliedEvent:
    event: MarketplaceEvent
    webhook_id: str
    outcome: Outcome
    order: Order | None
    effects: tuple[Effect, ...] = ()  # the tickets' effects it wrote (a channel to make, requesters to tell)
    changes: tuple[Change, ...] = ()  # what it did to the escrow (their effects are written too)


class TermsValues(TypedDict):
    """The columns of `TermsFields` an agreement sets, typed field by field (so `**values` is checked)."""

    gig_url: str
    gig_key: str
    conversation_url: str | None
    seller_email: str
    seller_name: str | None
    seller_user_id: str | None
    buyer_email: str
    buyer_name: str | None
    buyer_user_id: str | None
    amount: Decimal
    currency: str
    delivery_due: datetime
    deliverables: str
    agreed_at: datetime


def _terms_values(data: TermsData) -> TermsValues:
    return {
        "gig_url": data.gig_url,
        "gig_key": gig_key(data.gig_url),
        "conversation_url": data.conversation_url,
        "seller_email": data.seller.email,
        "seller_name": data.seller.name,
        "seller_user_id": data.seller.user_id,
        "buyer_email": data.buyer.email,
        "buyer_name": data.buyer.name,
        "buyer_user_id": data.buyer.user_id,
        "amount": data.amount_decimal,
        "currency": data.currency,
        "delivery_due": data.delivery_due,
        "deliverables": data.deliverables,
        "agreed_at": data.agreed_at,
    }


def _current(order: Order) -> TermsValues:
    """The order's terms as they stand (before new ones are applied)."""
    return {name: getattr(order, name) for name in TermsValues.__annotations__}  # type: ignore[return-value]


class OrderBook:
    """Applies one stored event to the orders, inside the caller's transaction, then hands it on."""

    def __init__(
        self, escrow: MarketplaceEscrow, *, email_proof: bool = False, timer_periods: TimerPeriods = DEFAULT_PERIODS
    ) -> None:
        self._escrow = escrow
        self._timer_periods = timer_periods  # the reminder of a ticket a waiting request opens
        self._email_proof = email_proof  # emails are proven with codes: a waiting request never opens a ticket

    async def apply(self, session: AsyncSession, event: MarketplaceEvent, webhook_id: str) -> AppliedEvent:
        data = event.data
        if data is None:
            return AppliedEvent(event, webhook_id, Outcome.IGNORED, None)
        order = await order_repo.get(session=session, order_id=data.order_id, lock=True)
        terms_change: Change | None = None
        if isinstance(data, TermsData):
            outcome, order, terms_change = await self._apply_terms(session, event, data, webhook_id, order)
        elif order is None:
            return AppliedEvent(event, webhook_id, Outcome.WAITING, None)
        else:
            outcome = _record_fact(order, event)
        effects: list[Effect] = []
        if outcome is Outcome.CREATED:
            await self._escrow.open(session, order.id)
        if outcome in (Outcome.CREATED, Outcome.TERMS_APPLIED):
            effects = await requests.resolve_for_order(
                session, order, proving=self._email_proof, timer_periods=self._timer_periods
            )
        changes = [terms_change] if terms_change is not None else []
        changes += await self._escrow.react(
            session, order_id=order.id, event_type=event.type, webhook_id=webhook_id,
            terms_locked=outcome is Outcome.TERMS_LOCKED,
        )  # fmt: skip
        return AppliedEvent(event, webhook_id, outcome, order, tuple(effects), tuple(changes))

    async def _apply_terms(
        self, session: AsyncSession, event: MarketplaceEvent, data: TermsData, webhook_id: str, order: Order | None
    ) -> tuple[Outcome, Order, Change | None]:
        """Record the terms an event carries; apply them if they are newer, different, and no payment is held yet
        (the escrow's version goes up with them: `MarketplaceEscrow.take_new_terms`)."""
        values = _terms_values(data)
        if order is None:
            order = await order_repo.add(
                session=session, order_id=data.order_id, event_id=webhook_id, event_type=event.type, values=values
            )
            return Outcome.CREATED, order, None
        if await order_repo.terms_recorded(session=session, order_id=order.id, event_id=webhook_id):
            return Outcome.ALREADY_APPLIED, order, None
        # What the comparison and the change's record read (`order_repo.add_terms` stores the version).
        row = OrderTerms(order_id=data.order_id, event_id=webhook_id, event_type=event.type, **values)
        change = compare(order, row)
        version = note = None
        if data.agreed_at <= order.agreed_at:
            outcome, note = Outcome.TERMS_STALE, "older than the current terms; not applied"
        elif change is None:  # the newest agreement still; names and spelling may differ, nothing that matters
            outcome, note = Outcome.TERMS_UNCHANGED, "the same terms as the current ones (by their digest)"
        elif (version := await self._escrow.take_new_terms(session, order.id)) is None:
            outcome, note = Outcome.TERMS_LOCKED, "arrived after funding; recorded for the officers, not applied"
        else:
            outcome = Outcome.TERMS_APPLIED
        row.applied = outcome in (Outcome.TERMS_APPLIED, Outcome.TERMS_UNCHANGED)
        row.note = note
        await order_repo.add_terms(
            session=session, order_id=order.id, event_id=webhook_id, event_type=event.type, values=values,
            applied=row.applied, note=note,
        )  # fmt: skip
        recorded = None
        if row.applied:  # unchanged terms are applied too, so that `agreed_at` orders the next ones right
            old = OrderTerms(order_id=order.id, event_id=order.terms_event_id, event_type="", **_current(order))
            for name, value in values.items():
                setattr(order, name, value)
            order.terms_event_id = webhook_id
            order.updated_at = utcnow()
        if change is not None and version is not None:
            order.terms_version += 1
            recorded = await self._escrow.new_terms_recorded(
                session, order_id=order.id, old=old, new=row, change=change, version=version, event_id=webhook_id
            )
        await session.flush()
        return outcome, order, recorded


def _record_fact(order: Order, event: MarketplaceEvent) -> Outcome:
    data = event.data
    if isinstance(data, DeliveredData):
        if order.delivered_at is not None:
            return Outcome.ALREADY_APPLIED
        order.delivered_at, order.delivery_note = data.delivered_at, data.note
    elif isinstance(data, CompletedData):
        if order.completed_at is not None:
            return Outcome.ALREADY_APPLIED
        order.completed_at = data.completed_at
    elif isinstance(data, CancelledData):
        if order.cancelled_at is not None:
            return Outcome.ALREADY_APPLIED
        order.cancelled_at, order.cancel_reason = event.timestamp, data.reason
    order.updated_at = utcnow()
    return Outcome.FACT_RECORDED
