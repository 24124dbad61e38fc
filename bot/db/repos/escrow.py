"""Queries on escrows, their audit trail and the callback outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from bot.db.core import rowcount
from bot.db.models import AuditEntry, CallbackDelivery, Escrow, Ticket
from bot.db.types import utcnow


async def get(*, session: AsyncSession, order_id: str, fresh: bool = False) -> Escrow | None:
    query = select(Escrow).where(col(Escrow.order_id) == order_id)
    if fresh:
        query = query.execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def create(*, session: AsyncSession, order_id: str, state: str) -> bool:
    """Insert the escrow unless it exists; True when this call made it."""
    values = {"order_id": order_id, "state": state, "version": 0, "created_at": utcnow(), "updated_at": utcnow()}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Escrow).values(**values).on_conflict_do_nothing(index_elements=["order_id"])
    return bool(rowcount(await session.execute(statement)))


async def compare_and_set(*, session: AsyncSession, order_id: str, version: int, values: dict[str, Any]) -> bool:
    """`UPDATE escrows SET ..., version = version + 1 WHERE order_id = ? AND version = ?`; True if it won."""
    statement = (
        update(Escrow)
        .where(col(Escrow.order_id) == order_id, col(Escrow.version) == version)
        .values(**values, version=version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return rowcount(await session.execute(statement)) == 1


async def set_flag(*, session: AsyncSession, order_id: str, flag: str) -> None:
    statement = (
        update(Escrow)
        .where(col(Escrow.order_id) == order_id)
        .values(flag=flag, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def ticket(*, session: AsyncSession, order_id: str) -> Ticket | None:
    return (await session.scalars(select(Ticket).where(col(Ticket.order_id) == order_id))).first()


async def set_ticket_claim(*, session: AsyncSession, order_id: str, officer_id: int) -> None:
    statement = (
        update(Ticket)
        .where(col(Ticket.order_id) == order_id)
        .values(claimed_by=officer_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def event_recorded(*, session: AsyncSession, order_id: str, source_event_id: str) -> bool:
    """Has this marketplace event already left an audit entry on this order?"""
    query = select(
        exists().where(
            col(AuditEntry.order_id) == order_id,
            col(AuditEntry.source_event_id) == source_event_id,
        )
    )
    return bool(await session.scalar(query))


async def due_callbacks(*, session: AsyncSession, now: datetime, limit: int) -> Sequence[CallbackDelivery]:
    """Pending callbacks that are due and have no earlier undelivered callback for the same order."""
    earlier = aliased(CallbackDelivery)
    blocked = exists().where(
        col(earlier.order_id) == col(CallbackDelivery.order_id),
        col(earlier.status) == "pending",
        col(earlier.id) < col(CallbackDelivery.id),
    )
    query = (
        select(CallbackDelivery)
        .where(col(CallbackDelivery.status) == "pending", col(CallbackDelivery.next_attempt_at) <= now, ~blocked)
        .order_by(col(CallbackDelivery.id))
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def callbacks_for_order(*, session: AsyncSession, order_id: str) -> Sequence[CallbackDelivery]:
    query = (
        select(CallbackDelivery).where(col(CallbackDelivery.order_id) == order_id).order_by(col(CallbackDelivery.id))
    )
    return (await session.scalars(query)).all()
