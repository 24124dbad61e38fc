"""Queries on pending ticket requests: `/guarantee open`s waiting for their order's agreement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.core import rowcount
from bot.db.models import RequestState, TicketRequest


async def pending_for_gig(*, session: AsyncSession, gig_key: str, now: datetime) -> Sequence[TicketRequest]:
    query = (
        select(TicketRequest)
        .where(
            col(TicketRequest.gig_key) == gig_key,
            col(TicketRequest.state) == RequestState.PENDING,
            col(TicketRequest.expires_at) > now,
        )
        .order_by(col(TicketRequest.created_at), col(TicketRequest.id))
    )
    return (await session.scalars(query)).all()


async def pending_of_user(*, session: AsyncSession, user_id: int, gig_key: str) -> TicketRequest | None:
    query = select(TicketRequest).where(
        col(TicketRequest.user_id) == user_id,
        col(TicketRequest.gig_key) == gig_key,
        col(TicketRequest.state) == RequestState.PENDING,
    )
    return (await session.scalars(query)).first()


async def expire(*, session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        update(TicketRequest)
        .where(col(TicketRequest.state) == RequestState.PENDING, col(TicketRequest.expires_at) <= now)
        .values(state=RequestState.EXPIRED.value, resolved_at=now)
    )
    return rowcount(result)


async def unnotified(*, session: AsyncSession, order_id: str | None = None) -> Sequence[TicketRequest]:
    """Resolved requests whose requester has not been told yet (optionally for one order)."""
    query = select(TicketRequest).where(
        col(TicketRequest.state).in_([RequestState.FULFILLED.value, RequestState.REJECTED.value]),
        col(TicketRequest.notified_at).is_(None),
    )
    if order_id is not None:
        query = query.where(col(TicketRequest.order_id) == order_id)
    return (await session.scalars(query.order_by(col(TicketRequest.id)))).all()
