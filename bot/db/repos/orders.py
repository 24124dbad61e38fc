"""Queries on orders and their terms."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import Order, OrderTerms


async def get(*, session: AsyncSession, order_id: str, lock: bool = False) -> Order | None:
    query = select(Order).where(col(Order.id) == order_id)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def terms_history(*, session: AsyncSession, order_id: str) -> Sequence[OrderTerms]:
    query = select(OrderTerms).where(col(OrderTerms.order_id) == order_id).order_by(col(OrderTerms.id))
    return (await session.scalars(query)).all()


async def terms_for_event(*, session: AsyncSession, order_id: str, event_id: str) -> OrderTerms | None:
    query = select(OrderTerms).where(col(OrderTerms.order_id) == order_id, col(OrderTerms.event_id) == event_id)
    return (await session.scalars(query)).first()


async def listing(*, session: AsyncSession, limit: int, offset: int = 0) -> Sequence[Order]:
    query = select(Order).order_by(col(Order.created_at).desc(), col(Order.id)).limit(limit).offset(offset)
    return (await session.scalars(query)).all()


async def count(*, session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Order)) or 0)
