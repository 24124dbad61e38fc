"""A closing ticket: the reads for its transcript header (the order, its ticket, its escrow and its audit trail),
and the steps of its closing as they are done."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.core import rowcount
from bot.db.models import AuditEntry, Escrow, Order, Ticket, TicketState
from bot.db.types import utcnow


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


async def record_step(*, session: AsyncSession, ticket_id: int, unset: str, **values: object) -> bool:
    """Record one step of a closing ticket (`values`) if it is still closing and `unset` is still empty: the
    step is recorded once, even when two workers raced to it. False: it was recorded before (or the ticket moved)."""
    column = getattr(Ticket, unset)
    statement = (
        update(Ticket)
        .where(col(Ticket.id) == ticket_id, col(Ticket.state) == TicketState.CLOSING, col(column).is_(None))
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(await session.execute(statement)))
