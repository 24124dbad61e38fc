"""Read-only views of orders for operators (the CLI's `orders list` / `orders show`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Order, OrderTerms, WebhookEvent
from bot.db.repos import events as event_repo
from bot.db.repos import orders as order_repo

# Other parts of the domain (escrow, tickets, callbacks) add their own sections to `show`:
# a section returns (key, JSON-able value) for an order, or None when it has nothing to say.
Section = Callable[[AsyncSession, str], Awaitable[tuple[str, Any] | None]]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def mask_email(email: str) -> str:
    """`jane.doe@example.com` → `j***@e***.com`: enough to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    name, dot, tld = domain.rpartition(".")
    if not dot:
        name, tld = domain, ""
    masked_domain = f"{name[:1]}***{dot}{tld}" if domain else ""
    return f"{local[:1]}***@{masked_domain}"


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
        self._sections: list[Section] = []

    def add_section(self, section: Section) -> None:
        self._sections.append(section)

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
            for section in self._sections:
                extra = await section(session, order_id)
                if extra is not None:
                    report[extra[0]] = extra[1]
            return report
