"""The numbers `/metrics` reports from the database: counts grouped by state, read in one short session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.clock import database_now
from bot.db.models import AuditEntry, CallbackDelivery, DiscordEffect, EventStatus, Ticket, WebhookEvent
from bot.db.repos import timers as timer_repo


async def _grouped(session: AsyncSession, column: Any) -> dict[str, int]:
    rows = (await session.execute(select(column, func.count()).group_by(column))).all()
    return {str(key): int(count) for key, count in rows}


async def read(*, session: AsyncSession) -> dict[str, Any]:
    oldest = await session.scalar(
        select(func.min(col(WebhookEvent.received_at))).where(col(WebhookEvent.status) == EventStatus.PENDING)
    )
    now = await database_now(session)
    pending_callbacks = col(CallbackDelivery.status) == "pending"
    return {
        "events": await _grouped(session, col(WebhookEvent.status)),
        "oldest_unprocessed_seconds": max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0,
        "tickets": await _grouped(session, col(Ticket.state)),
        "transitions": await _grouped(session, col(AuditEntry.action)),
        "callbacks_pending": int(
            await session.scalar(select(func.count()).select_from(CallbackDelivery).where(pending_callbacks)) or 0
        ),
        "callbacks_failing": int(
            await session.scalar(
                select(func.count())
                .select_from(CallbackDelivery)
                .where(pending_callbacks, col(CallbackDelivery.attempts) > 0)
            )
            or 0
        ),
        "effects": await _grouped(session, col(DiscordEffect.status)),
        "timers_fired": await timer_repo.fired_by_kind(session=session),
    }
