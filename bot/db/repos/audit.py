"""Queries on the escrow audit log (`audit_entries`) and its one-row chain head (`audit_head`)."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import AuditEntry


async def for_order(*, session: AsyncSession, order_id: str) -> list[AuditEntry]:
    """The order's entries, oldest first."""
    query = select(AuditEntry).where(col(AuditEntry.order_id) == order_id).order_by(col(AuditEntry.seq))
    return list((await session.scalars(query)).all())


async def event_recorded(*, session: AsyncSession, order_id: str, source_event_id: str) -> bool:
    """Has this marketplace event already left an audit entry on this order?"""
    query = select(
        exists().where(
            col(AuditEntry.order_id) == order_id,
            col(AuditEntry.source_event_id) == source_event_id,
        )
    )
    return bool(await session.scalar(query))
