"""Reads for a closing ticket's transcript header: the order, its ticket, its escrow and its audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import AuditEntry, Escrow, Order, Ticket


@dataclass(frozen=True, slots=True)
class TranscriptSource:
    order: Order
    ticket: Ticket
    escrow: Escrow | None
    audit: list[AuditEntry]


async def transcript_source(*, session: AsyncSession, order_id: str) -> TranscriptSource | None:
    """Everything a transcript's header shows, or None when the order has no ticket."""
    row = (
        await session.execute(
            select(Order, Ticket).join(Ticket, col(Ticket.order_id) == col(Order.id)).where(col(Order.id) == order_id)
        )
    ).first()
    if row is None:
        return None
    escrow = (await session.scalars(select(Escrow).where(col(Escrow.order_id) == order_id))).first()
    query = select(AuditEntry).where(col(AuditEntry.order_id) == order_id).order_by(col(AuditEntry.seq))
    audit = list((await session.scalars(query)).all())
    return TranscriptSource(order=row[0], ticket=row[1], escrow=escrow, audit=audit)
