"""Queries on orders and their terms, and the order lookups of `/guarantee open`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import Escrow, Order, OrderTerms, Ticket
from bot.db.models.orders import SELLER_EMAIL_KEY
from bot.db.repos import batch as batches
from bot.db.types import utcnow

_TICKET = col(Ticket.order_id) == col(Order.id)  # an order's ticket, as a join condition


async def get(*, session: AsyncSession, order_id: str, lock: bool = False) -> Order | None:
    """The order (`lock`: held until the transaction ends). In a batch of events, the batch's copy (locked)."""
    batch = batches.of(session)
    if batch is not None and order_id in batch.orders.held:
        held: Order | None = batch.orders.held[order_id]
        return held
    query = select(Order).where(col(Order.id) == order_id)
    if lock:  # FOR NO KEY UPDATE: rows that refer to the order (timers, say) may still be written meanwhile
        query = query.with_for_update(key_share=True)
    return (await session.scalars(query)).first()


async def terms_history(*, session: AsyncSession, order_id: str) -> Sequence[OrderTerms]:
    query = select(OrderTerms).where(col(OrderTerms.order_id) == order_id).order_by(col(OrderTerms.id))
    return (await session.scalars(query)).all()


async def add(
    *, session: AsyncSession, order_id: str, event_id: str, event_type: str, values: Mapping[str, Any]
) -> Order:
    """A new order with the terms `values` of event `event_id`, and the first version of its terms (applied)."""
    batch = batches.of(session)
    if batch is None:
        order = Order(id=order_id, terms_event_id=event_id, **values)
        session.add(order)
        await add_terms(session=session, order_id=order_id, event_id=event_id, event_type=event_type, values=values)
        await session.flush()
        return order
    now = utcnow()
    order = batch.add_order({
        "id": order_id, **values, "terms_version": 1, "terms_event_id": event_id, "delivered_at": None,
        "delivery_note": None, "completed_at": None, "cancelled_at": None, "cancel_reason": None,
        "created_at": now, "updated_at": now,
    })  # fmt: skip
    await add_terms(session=session, order_id=order_id, event_id=event_id, event_type=event_type, values=values)
    return order


async def add_terms(
    *, session: AsyncSession, order_id: str, event_id: str, event_type: str, values: Mapping[str, Any],
    applied: bool = True, note: str | None = None,
) -> None:  # fmt: skip
    """Record a version of an order's terms (sent with the transaction's next flush)."""
    batch = batches.of(session)
    if batch is None:
        session.add(
            OrderTerms(
                order_id=order_id, event_id=event_id, event_type=event_type, applied=applied, note=note, **values
            )
        )
        return
    batch.add_terms({
        "order_id": order_id, "event_id": event_id, "event_type": event_type, "applied": applied, "note": note,
        **values, "received_at": utcnow(),
    })  # fmt: skip


async def terms_recorded(*, session: AsyncSession, order_id: str, event_id: str) -> bool:
    """Has event `event_id` already left a version of this order's terms?"""
    batch = batches.of(session)
    if batch is not None and order_id in batch.orders.held:
        return (order_id, event_id) in batch.terms_seen
    return await terms_for_event(session=session, order_id=order_id, event_id=event_id) is not None


async def terms_for_event(*, session: AsyncSession, order_id: str, event_id: str) -> OrderTerms | None:
    query = select(OrderTerms).where(col(OrderTerms.order_id) == order_id, col(OrderTerms.event_id) == event_id)
    return (await session.scalars(query)).first()


async def listing(*, session: AsyncSession, limit: int, offset: int = 0) -> Sequence[Order]:
    query = select(Order).order_by(col(Order.created_at).desc(), col(Order.id)).limit(limit).offset(offset)
    return (await session.scalars(query)).all()


# Built once, not per call: `/guarantee open` runs it every time, and building a statement costs
# about as much as running it.
_ORDERS_FOR_GIG = (
    select(Order, Ticket, col(Escrow.state))
    .outerjoin(Ticket, _TICKET)
    .outerjoin(Escrow, col(Escrow.order_id) == col(Order.id))
    .where(col(Order.gig_key) == bindparam("gig_key"))
    .order_by(col(Order.agreed_at))
)


async def for_gig(*, session: AsyncSession, gig_key: str) -> list[tuple[Order, Ticket | None, str | None]]:
    """The gig's orders, oldest agreement first, each with its ticket and escrow state (or None), in one query."""
    rows = (await session.execute(_ORDERS_FOR_GIG, {"gig_key": gig_key})).all()
    return [(row[0], row[1], row[2]) for row in rows]


async def unticketed_of_seller(*, session: AsyncSession, email: str) -> Sequence[Order]:
    """Live orders agreed with this seller email (trimmed, any case) that have no ticket yet."""
    query = (
        select(Order)
        .outerjoin(Ticket, _TICKET)
        .where(
            SELLER_EMAIL_KEY == email,  # noqa: SIM300  (the indexed expression, not a constant)
            col(Order.cancelled_at).is_(None),
            col(Ticket.id).is_(None),
        )
    )
    return (await session.scalars(query)).all()
