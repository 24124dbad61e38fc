"""Queries on the outbox of callbacks to the marketplace."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from bot.db.models import CallbackDelivery


async def due(*, session: AsyncSession, now: datetime, limit: int) -> Sequence[CallbackDelivery]:
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


async def for_order(*, session: AsyncSession, order_id: str) -> Sequence[CallbackDelivery]:
    query = (
        select(CallbackDelivery).where(col(CallbackDelivery.order_id) == order_id).order_by(col(CallbackDelivery.id))
    )
    return (await session.scalars(query)).all()
