"""Queries on stored webhook events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.core import rowcount
from bot.db.models import EventStatus, Order, WebhookEvent


async def due_ids(*, session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    """Ids of the events due for processing, oldest first (claimed one by one with `get(lock=True)`)."""
    due = col(WebhookEvent.next_attempt_at)
    query = (
        select(col(WebhookEvent.id))
        .where(col(WebhookEvent.status) == EventStatus.PENDING, or_(due.is_(None), due <= now))
        .order_by(col(WebhookEvent.id))
        .limit(limit)
    )
    return [event_id for event_id in (await session.scalars(query)).all() if event_id is not None]


async def get(*, session: AsyncSession, event_id: int) -> WebhookEvent | None:
    return (await session.scalars(select(WebhookEvent).where(col(WebhookEvent.id) == event_id))).first()


async def claim(*, session: AsyncSession, event_id: int) -> WebhookEvent | None:
    """Take a pending event for this transaction, or get None if another worker has it or it is done.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers never wait on each other. SQLite has no
    row locks and runs plain reads outside the transaction, so the claim is a write first
    (it takes the database's write lock, then sees the newest data) that matches only a
    still-pending event.
    """
    pending = (col(WebhookEvent.id) == event_id, col(WebhookEvent.status) == EventStatus.PENDING)
    if session.get_bind().dialect.name == "sqlite":
        claimed = await session.execute(update(WebhookEvent).where(*pending).values(status=EventStatus.PENDING.value))
        if not rowcount(claimed):
            return None
        return await get(session=session, event_id=event_id)
    query = select(WebhookEvent).where(*pending).with_for_update(skip_locked=True)
    return (await session.scalars(query)).first()


async def claim_batch(*, session: AsyncSession, now: datetime, limit: int) -> Sequence[WebhookEvent]:
    """Take up to `limit` due events, oldest first, for this transaction (see `claim`): PostgreSQL skips
    the rows other workers hold; SQLite first writes them (taking the write lock), then reads them."""
    due_at = col(WebhookEvent.next_attempt_at)
    due = (col(WebhookEvent.status) == EventStatus.PENDING, or_(due_at.is_(None), due_at <= now))
    if session.get_bind().dialect.name == "sqlite":
        ids = select(col(WebhookEvent.id)).where(*due).order_by(col(WebhookEvent.id)).limit(limit)
        claimed = await session.execute(
            update(WebhookEvent)
            .where(col(WebhookEvent.id).in_(ids.scalar_subquery()))
            .values(status=EventStatus.PENDING.value)
            .returning(col(WebhookEvent.id))
            .execution_options(synchronize_session=False)
        )
        taken = [row[0] for row in claimed.all()]
        if not taken:
            return []
        query = select(WebhookEvent).where(col(WebhookEvent.id).in_(taken)).order_by(col(WebhookEvent.id))
        return (await session.scalars(query)).all()
    query = select(WebhookEvent).where(*due).order_by(col(WebhookEvent.id)).limit(limit)
    return (await session.scalars(query.with_for_update(skip_locked=True))).all()


async def mark(*, session: AsyncSession, outcomes: dict[EventStatus, list[int]], now: datetime) -> None:
    """Applied events, one statement per outcome: processed and ignored ones are done (`now`), waiting ones wait
    for their order's agreement; each counts one more attempt and drops any earlier error."""
    for status, event_ids in outcomes.items():
        if not event_ids:
            continue
        values: dict[str, object] = {"status": status.value, "attempts": col(WebhookEvent.attempts) + 1}
        values["last_error"] = None
        if status is not EventStatus.WAITING:
            values["processed_at"] = now
        statement = update(WebhookEvent).where(col(WebhookEvent.id).in_(event_ids)).values(values)
        await session.execute(statement.execution_options(synchronize_session=False))


async def stranded_ids(*, session: AsyncSession, limit: int) -> Sequence[int]:
    """Waiting events whose order exists after all: its agreement committed while they were being marked waiting."""
    query = (
        select(col(WebhookEvent.id))
        .where(col(WebhookEvent.status) == EventStatus.WAITING, col(WebhookEvent.order_id).in_(select(col(Order.id))))
        .limit(limit)
    )
    return [event_id for event_id in (await session.scalars(query)).all() if event_id is not None]


async def release(*, session: AsyncSession, event_ids: Sequence[int]) -> int:
    """These waiting events become due again."""
    result = await session.execute(
        update(WebhookEvent)
        .where(col(WebhookEvent.id).in_(event_ids), col(WebhookEvent.status) == EventStatus.WAITING)
        .values(status=EventStatus.PENDING.value, next_attempt_at=None)
    )
    return rowcount(result)


async def for_order(*, session: AsyncSession, order_id: str) -> Sequence[WebhookEvent]:
    query = select(WebhookEvent).where(col(WebhookEvent.order_id) == order_id).order_by(col(WebhookEvent.id))
    return (await session.scalars(query)).all()


async def listing(*, session: AsyncSession, status: EventStatus | None, limit: int) -> Sequence[WebhookEvent]:
    """The newest stored events (optionally in one status) first."""
    query = select(WebhookEvent).order_by(col(WebhookEvent.id).desc()).limit(limit)
    if status is not None:
        query = query.where(col(WebhookEvent.status) == status)
    return (await session.scalars(query)).all()


async def retry_failed(*, session: AsyncSession, webhook_ids: Sequence[str] | None) -> list[str]:
    """Failed events (these, or all of them) become due again with a fresh retry budget; returns their ids."""
    statement = (
        update(WebhookEvent)
        .where(col(WebhookEvent.status) == EventStatus.FAILED)
        .values(status=EventStatus.PENDING.value, attempts=0, next_attempt_at=None)
        .returning(col(WebhookEvent.webhook_id))
    )
    if webhook_ids is not None:
        statement = statement.where(col(WebhookEvent.webhook_id).in_(webhook_ids))
    return [str(row[0]) for row in (await session.execute(statement)).all()]


async def backlog(*, session: AsyncSession) -> tuple[int, datetime | None]:
    """How many stored events wait to be processed, and when the oldest of them arrived."""
    query = select(func.count(), func.min(col(WebhookEvent.received_at))).where(
        col(WebhookEvent.status) == EventStatus.PENDING
    )
    count, oldest = (await session.execute(query)).one()
    return int(count or 0), oldest
