"""Queries on escrows, their audit trail and the callback outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from bot.db.models import AuditEntry, CallbackDelivery, Escrow, Ticket
from bot.db.types import utcnow


async def get(*, session: AsyncSession, order_id: str, fresh: bool = False) -> Escrow | None:
    query = select(Escrow).where(Escrow.order_id == order_id)  # type: ignore[arg-type]
    if fresh:
        query = query.execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def create(*, session: AsyncSession, order_id: str, state: str) -> bool:
    """Insert the escrow unless it exists; True when this call made it."""
    values = {"order_id": order_id, "state": state, "version": 0, "created_at": utcnow(), "updated_at": utcnow()}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Escrow).values(**values).on_conflict_do_nothing(index_elements=["order_id"])
    result: Any = await session.execute(statement)
    return bool(result.rowcount)


async def compare_and_set(*, session: AsyncSession, order_id: str, version: int, values: dict[str, Any]) -> bool:
    """`UPDATE escrows SET ..., version = version + 1 WHERE order_id = ? AND version = ?`; True if it won."""
    statement = (
        update(Escrow)
        .where(Escrow.order_id == order_id, Escrow.version == version)  # type: ignore[arg-type]
        .values(**values, version=version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    result: Any = await session.execute(statement)
    return bool(result.rowcount == 1)


async def bump_version(*, session: AsyncSession, order_id: str) -> None:
    """Something every pending form and decision depends on changed (who the parties are): they must look again."""
    statement = (
        update(Escrow)
        .where(col(Escrow.order_id) == order_id)
        .values(version=col(Escrow.version) + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def set_flag(*, session: AsyncSession, order_id: str, flag: str) -> None:
    statement = (
        update(Escrow)
        .where(Escrow.order_id == order_id)  # type: ignore[arg-type]
        .values(flag=flag, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def ticket(*, session: AsyncSession, order_id: str, fresh: bool = False) -> Ticket | None:
    query = select(Ticket).where(col(Ticket.order_id) == order_id)
    if fresh:  # what the database holds now, not what this session read before
        query = query.execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def set_ticket_claim(*, session: AsyncSession, order_id: str, officer_id: int) -> None:
    statement = (
        update(Ticket)
        .where(Ticket.order_id == order_id)  # type: ignore[arg-type]
        .values(claimed_by=officer_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def event_recorded(*, session: AsyncSession, order_id: str, source_event_id: str) -> bool:
    """Has this marketplace event already left an audit entry on this order?"""
    query = select(
        exists().where(
            AuditEntry.order_id == order_id,  # type: ignore[arg-type]
            AuditEntry.source_event_id == source_event_id,  # type: ignore[arg-type]
        )
    )
    return bool(await session.scalar(query))


async def due_callbacks(*, session: AsyncSession, now: datetime, limit: int) -> Sequence[CallbackDelivery]:
    """Pending callbacks that are due, not held by a sender, and first in line for their order (no earlier
    undelivered callback of the same order). PostgreSQL skips rows another sender is reading for its claim."""
    earlier = aliased(CallbackDelivery)
    blocked = exists().where(
        col(earlier.order_id) == col(CallbackDelivery.order_id),
        col(earlier.status) == "pending",
        col(earlier.id) < col(CallbackDelivery.id),
    )
    query = (
        select(CallbackDelivery)
        .where(
            col(CallbackDelivery.status) == "pending",
            col(CallbackDelivery.next_attempt_at) <= now,
            or_(col(CallbackDelivery.claimed_until).is_(None), col(CallbackDelivery.claimed_until) < now),
            ~blocked,
        )
        .order_by(col(CallbackDelivery.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=CallbackDelivery)
    return (await session.scalars(query)).all()


async def claim_callback(*, session: AsyncSession, callback_id: int, now: datetime, lease: timedelta) -> bool:
    """Hold a pending callback until `now + lease`; False when another sender holds it or it was delivered."""
    statement = (
        update(CallbackDelivery)
        .where(
            col(CallbackDelivery.id) == callback_id,
            col(CallbackDelivery.status) == "pending",
            or_(col(CallbackDelivery.claimed_until).is_(None), col(CallbackDelivery.claimed_until) < now),
        )
        .values(claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    result: Any = await session.execute(statement)
    return bool(result.rowcount == 1)


async def callbacks_for_order(*, session: AsyncSession, order_id: str) -> Sequence[CallbackDelivery]:
    query = select(CallbackDelivery).where(CallbackDelivery.order_id == order_id).order_by(CallbackDelivery.id)  # type: ignore[arg-type]
    return (await session.scalars(query)).all()
