"""Queries for the retention purge: closed tickets past their retention, and the personal data their
order left in each table. Every function takes `*, session` and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import (
    AuditEntry,
    CallbackDelivery,
    Escrow,
    Order,
    OrderTerms,
    Ticket,
    TicketRequest,
    TicketState,
    WebhookEvent,
)

PURGED = "[purged]"  # what a NOT NULL text column holds once purged; nullable ones become NULL


def _due(closed_before: datetime) -> ColumnElement[bool]:
    return (
        (col(Ticket.state) == TicketState.CLOSED.value)
        & col(Ticket.closed_at).is_not(None)
        & (col(Ticket.closed_at) < closed_before)
        & col(Ticket.purged_at).is_(None)
    )


async def due_tickets(*, session: AsyncSession, closed_before: datetime) -> Sequence[Ticket]:
    """Closed tickets not purged yet whose closing is older than `closed_before`, oldest first."""
    query = select(Ticket).where(_due(closed_before)).order_by(col(Ticket.closed_at), col(Ticket.id))
    return (await session.scalars(query)).all()


async def claim(*, session: AsyncSession, order_id: str, closed_before: datetime, now: datetime) -> Ticket | None:
    """Mark the order's ticket purged if it is still due; None if it is not (or another purge took it).

    The UPDATE comes first: it holds the row (PostgreSQL) or the database (SQLite) until the commit,
    so two purges at once purge a ticket once."""
    statement = (
        update(Ticket)
        .where(col(Ticket.order_id) == order_id, _due(closed_before))
        .values(purged_at=now, updated_at=now, close_reason=None)  # the closing officer's words go with the rest
        .execution_options(synchronize_session=False)
    )
    result: Any = await session.execute(statement)
    if result.rowcount != 1:
        return None
    return (await session.scalars(select(Ticket).where(col(Ticket.order_id) == order_id))).one()


async def escrow_state(*, session: AsyncSession, order_id: str) -> str | None:
    return await session.scalar(select(col(Escrow.state)).where(col(Escrow.order_id) == order_id))


async def _count(session: AsyncSession, model: Any, *where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _update(session: AsyncSession, model: Any, values: dict[str, Any], *where: ColumnElement[bool]) -> int:
    statement = update(model).where(*where).values(**values).execution_options(synchronize_session=False)
    result: Any = await session.execute(statement)
    return int(result.rowcount)


def _typed_emails(order_id: str) -> tuple[ColumnElement[bool], ...]:
    return col(TicketRequest.order_id) == order_id, col(TicketRequest.email) != PURGED


async def count_request_emails(*, session: AsyncSession, order_id: str) -> int:
    return await _count(session, TicketRequest, *_typed_emails(order_id))


async def purge_request_emails(*, session: AsyncSession, order_id: str) -> int:
    """The emails typed in `/guarantee open` requests for this order."""
    return await _update(session, TicketRequest, {"email": PURGED}, *_typed_emails(order_id))


# The personal fields `TermsFields` carries, on orders and on every terms version.
_TEXT_TERMS = ("seller_email", "buyer_email", "deliverables")
_NULLABLE_TERMS = ("seller_name", "buyer_name", "seller_user_id", "buyer_user_id", "conversation_url")
_PURGED_TERMS: dict[str, Any] = dict.fromkeys(_TEXT_TERMS, PURGED) | dict.fromkeys(_NULLABLE_TERMS)


def _terms_present(model: Any) -> ColumnElement[bool]:
    return or_(
        *(col(getattr(model, name)) != PURGED for name in _TEXT_TERMS),
        *(col(getattr(model, name)).is_not(None) for name in _NULLABLE_TERMS),
    )


def _order_where(order_id: str) -> tuple[ColumnElement[bool], ...]:
    present = _terms_present(Order) | col(Order.delivery_note).is_not(None) | col(Order.cancel_reason).is_not(None)
    return col(Order.id) == order_id, present


def _terms_where(order_id: str) -> tuple[ColumnElement[bool], ...]:
    return col(OrderTerms.order_id) == order_id, _terms_present(OrderTerms) | col(OrderTerms.note).is_not(None)


async def count_order_records(*, session: AsyncSession, order_id: str) -> int:
    """Rows of `orders` and `order_terms` that still hold personal fields."""
    return await _count(session, Order, *_order_where(order_id)) + await _count(
        session, OrderTerms, *_terms_where(order_id)
    )


async def purge_order_records(*, session: AsyncSession, order_id: str) -> int:
    """Emails, names, marketplace user ids, conversation link, deliverables and free-text notes of the
    order and its terms versions; amounts, currency, dates, states and ids stay."""
    orders = await _update(
        session,
        Order,
        _PURGED_TERMS | {"delivery_note": None, "cancel_reason": None},
        *_order_where(order_id),
    )
    terms = await _update(session, OrderTerms, _PURGED_TERMS | {"note": None}, *_terms_where(order_id))
    return orders + terms


async def event_bodies(*, session: AsyncSession, order_id: str) -> Sequence[tuple[int, str]]:
    query = select(col(WebhookEvent.id), col(WebhookEvent.body)).where(col(WebhookEvent.order_id) == order_id)
    return [(row[0] or 0, row[1]) for row in (await session.execute(query)).all()]


async def set_event_body(*, session: AsyncSession, event_id: int, body: str) -> None:
    await _update(session, WebhookEvent, {"body": body}, col(WebhookEvent.id) == event_id)


async def callback_bodies(*, session: AsyncSession, order_id: str) -> Sequence[tuple[int, str]]:
    query = select(col(CallbackDelivery.id), col(CallbackDelivery.body)).where(
        col(CallbackDelivery.order_id) == order_id
    )
    return [(row[0] or 0, row[1]) for row in (await session.execute(query)).all()]


async def set_callback_body(*, session: AsyncSession, callback_id: int, body: str) -> None:
    await _update(session, CallbackDelivery, {"body": body}, col(CallbackDelivery.id) == callback_id)


def _noted(order_id: str) -> tuple[ColumnElement[bool], ...]:
    return col(AuditEntry.order_id) == order_id, col(AuditEntry.note).is_not(None)


async def count_audit_notes(*, session: AsyncSession, order_id: str) -> int:
    return await _count(session, AuditEntry, *_noted(order_id))


async def purge_audit_notes(*, session: AsyncSession, order_id: str) -> int:
    """The notes' text only: each entry keeps `note_sha256`, so the chain still verifies and reads as purged."""
    return await _update(session, AuditEntry, {"note": None}, *_noted(order_id))
