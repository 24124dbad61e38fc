"""Queries on the outbox of callbacks to the marketplace."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from bot.db.core import rowcount
from bot.db.models import CallbackDelivery


async def due(*, session: AsyncSession, now: datetime, limit: int) -> Sequence[CallbackDelivery]:
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


async def claim(*, session: AsyncSession, callback_id: int, now: datetime, lease: timedelta) -> bool:
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
    return rowcount(await session.execute(statement)) == 1


async def for_order(*, session: AsyncSession, order_id: str) -> Sequence[CallbackDelivery]:
    query = (
        select(CallbackDelivery).where(col(CallbackDelivery.order_id) == order_id).order_by(col(CallbackDelivery.id))
    )
    return (await session.scalars(query)).all()
