"""The escrow, ticket and callback parts of `guarantor orders show`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.repos import escrow as escrow_repo
from bot.services.escrow.callbacks import callbacks_for_order
from bot.services.reports import iso
from bot.services.tickets.service import ticket_for_order


async def escrow_section(session: AsyncSession, order_id: str) -> tuple[str, Any] | None:
    escrow = await escrow_repo.get(session=session, order_id=order_id)
    if escrow is None:
        return None
    return "escrow", {
        "state": escrow.state,
        "version": escrow.version,
        "payment_reference": escrow.payment_reference,
        "approved_by": escrow.approved_by,
        "approved_at": iso(escrow.approved_at),
        "flag": escrow.flag,
        "updated_at": iso(escrow.updated_at),
    }


async def ticket_section(session: AsyncSession, order_id: str) -> tuple[str, Any] | None:
    ticket = await ticket_for_order(session=session, order_id=order_id)
    if ticket is None:
        return None
    return "ticket", {
        "state": ticket.state,
        "guild_id": str(ticket.guild_id),
        "channel_id": str(ticket.channel_id) if ticket.channel_id else None,
        "freelancer_id": str(ticket.freelancer_id),
        "buyer_id": str(ticket.buyer_id) if ticket.buyer_id else None,
        "claimed_by": str(ticket.claimed_by) if ticket.claimed_by else None,
    }


async def callbacks_section(session: AsyncSession, order_id: str) -> tuple[str, Any] | None:
    rows = await callbacks_for_order(session=session, order_id=order_id)
    return "callbacks", [
        {
            "webhook_id": row.webhook_id,
            "status": row.status,
            "attempts": row.attempts,
            "last_status": row.last_status,
            "last_error": row.last_error,
            "next_attempt_at": iso(row.next_attempt_at) if row.status != "delivered" else None,
            "delivered_at": iso(row.delivered_at),
        }
        for row in rows
    ]


SECTIONS = (escrow_section, ticket_section, callbacks_section)
