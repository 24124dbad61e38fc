"""Read-only views of orders for operators (the CLI's `orders list` / `orders show`).

`show` reads every feature's part of an order in one session: its terms and events, its
escrow, its ticket, its callbacks.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Order, OrderTerms, WebhookEvent
from bot.db.repos import callbacks as callback_repo
from bot.db.repos import effects as effect_repo
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import events as event_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import tickets as ticket_repo


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def order_summary(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "amount": str(order.amount),
        "currency": order.currency,
        "seller_email": order.seller_email,
        "buyer_email": order.buyer_email,
        "gig_url": order.gig_url,
        "delivery_due": order.delivery_due.isoformat(),
        "terms_version": order.terms_version,
        "created_at": order.created_at.isoformat(),
        "cancelled_at": iso(order.cancelled_at),
    }


def _terms(row: OrderTerms) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "event_type": row.event_type,
        "applied": row.applied,
        "note": row.note,
        "amount": str(row.amount),
        "currency": row.currency,
        "delivery_due": row.delivery_due.isoformat(),
        "deliverables": row.deliverables,
        "agreed_at": row.agreed_at.isoformat(),
        "received_at": row.received_at.isoformat(),
    }


def _event(row: WebhookEvent) -> dict[str, Any]:
    return {
        "webhook_id": row.webhook_id,
        "type": row.type,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "received_at": row.received_at.isoformat(),
        "processed_at": iso(row.processed_at),
        "next_attempt_at": iso(row.next_attempt_at),
    }


class OrderReports:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list(self, *, limit: int) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            return [order_summary(order) for order in await order_repo.listing(session=session, limit=limit)]

    async def show(self, order_id: str) -> dict[str, Any] | None:
        """Everything known about an order; None when neither the order nor any event for it exists."""
        async with self._sessions() as session:
            order = await order_repo.get(session=session, order_id=order_id)
            events = await event_repo.for_order(session=session, order_id=order_id)
            if order is None and not events:
                return None
            report: dict[str, Any] = {"order_id": order_id, "order": None, "terms_history": [], "events": []}
            if order is not None:
                report["order"] = order_summary(order) | {
                    "deliverables": order.deliverables,
                    "conversation_url": order.conversation_url,
                    "agreed_at": order.agreed_at.isoformat(),
                    "delivered_at": iso(order.delivered_at),
                    "completed_at": iso(order.completed_at),
                    "cancel_reason": order.cancel_reason,
                }
                history = await order_repo.terms_history(session=session, order_id=order_id)
                report["terms_history"] = [_terms(row) for row in history]
            report["events"] = [_event(row) for row in events]
            if (escrow := await _escrow(session, order_id)) is not None:
                report["escrow"] = escrow
            if (ticket := await _ticket(session, order_id)) is not None:
                report["ticket"] = ticket
            report["callbacks"] = await _callbacks(session, order_id)
            report["discord_effects"] = await _effects(session, order_id)
            return report


async def _escrow(session: AsyncSession, order_id: str) -> dict[str, Any] | None:
    escrow = await escrow_repo.get(session=session, order_id=order_id)
    if escrow is None:
        return None
    return {
        "state": escrow.state,
        "version": escrow.version,
        "payment_reference": escrow.payment_reference,
        "approved_by": escrow.approved_by,
        "approved_at": iso(escrow.approved_at),
        "flag": escrow.flag,
        "updated_at": iso(escrow.updated_at),
    }


async def _ticket(session: AsyncSession, order_id: str) -> dict[str, Any] | None:
    ticket = await ticket_repo.for_order(session=session, order_id=order_id)
    if ticket is None:
        return None
    return {
        "state": ticket.state,
        "guild_id": str(ticket.guild_id),
        "channel_id": str(ticket.channel_id) if ticket.channel_id else None,
        "freelancer_id": str(ticket.freelancer_id),
        "buyer_id": str(ticket.buyer_id) if ticket.buyer_id else None,
        "claimed_by": str(ticket.claimed_by) if ticket.claimed_by else None,
        "closed_by": str(ticket.closed_by) if ticket.closed_by else None,
        "closed_at": iso(ticket.closed_at),
        "transcript": await _transcript(ticket.transcript_html, ticket.transcript_sha256, ticket.purged_at),
    }


async def _transcript(html: str | None, sha256: str | None, purged_at: datetime | None) -> dict[str, Any] | None:
    """Where a closed ticket's transcript is: its folder, the SHA-256 of its HTML page, and every file in it
    (the pages, then the attachments) with its size; none once the retention purge took them."""
    if html is None:
        return None
    folder = Path(html).parent
    files = await asyncio.to_thread(_files, folder)
    return {"folder": str(folder), "html_sha256": sha256, "purged_at": iso(purged_at), "files": files}


def _files(folder: Path) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    paths = sorted((p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: (p.parent != folder, str(p)))  # fmt: skip
    return [{"path": str(p.relative_to(folder)), "bytes": p.stat().st_size} for p in paths]


async def _callbacks(session: AsyncSession, order_id: str) -> list[dict[str, Any]]:
    rows = await callback_repo.for_order(session=session, order_id=order_id)
    return [
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


async def _effects(session: AsyncSession, order_id: str) -> list[dict[str, Any]]:
    """The order's Discord effects, oldest first: what was done, what waits and why."""
    return [
        {
            "kind": row.kind,
            "status": row.status,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "next_attempt_at": iso(row.next_attempt_at) if row.status == "pending" else None,
            "created_at": iso(row.created_at),
            "done_at": iso(row.done_at),
        }
        for row in await effect_repo.for_order(session=session, order_id=order_id)
    ]
