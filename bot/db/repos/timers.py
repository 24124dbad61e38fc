"""Queries on the timers (`bot.db.models.timers`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.db.models import Timer, TimerOutcome


async def add(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Set timers inside the caller's transaction; one set before (same order, kind and generation) is kept.
    Returns how many were new."""
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Timer).values(list(rows)).on_conflict_do_nothing().returning(col(Timer.id))
    return len((await session.execute(statement)).all())


async def due_ids(*, session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Timers not fired yet whose time has come, oldest due first."""
    query = (
        select(col(Timer.id))
        .where(col(Timer.fired_at).is_(None), col(Timer.due_at) <= now)
        .order_by(col(Timer.due_at), col(Timer.id))
        .limit(limit)
    )
    return [int(i or 0) for i in (await session.scalars(query)).all()]


async def take(*, session: AsyncSession, timer_id: int, now: datetime) -> Timer | None:
    """The timer, if it is due and not fired, locked for this transaction; None when it is not, or another
    worker holds it right now (`SKIP LOCKED` on PostgreSQL: that worker fires it)."""
    query = (
        select(Timer)
        .where(col(Timer.id) == timer_id, col(Timer.fired_at).is_(None), col(Timer.due_at) <= now)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).first()


async def mark_fired(*, session: AsyncSession, timer_id: int, now: datetime, outcome: TimerOutcome) -> bool:
    """Compare-and-set: the timer fired (or was found obsolete) now; False when it had been already."""
    statement = (
        update(Timer)
        .where(col(Timer.id) == timer_id, col(Timer.fired_at).is_(None))
        .values(fired_at=now, outcome=outcome.value)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], await session.execute(statement)).rowcount or 0) == 1


async def postpone(*, session: AsyncSession, timer_id: int, until: datetime) -> None:
    """Not due yet after all (or failing for now): due again at `until`."""
    statement = (
        update(Timer)
        .where(col(Timer.id) == timer_id, col(Timer.fired_at).is_(None))
        .values(due_at=until)
        .execution_options(synchronize_session=False)
    )
    await session.execute(statement)


async def for_order(*, session: AsyncSession, order_id: str) -> Sequence[Timer]:
    query = select(Timer).where(col(Timer.order_id) == order_id).order_by(col(Timer.due_at), col(Timer.id))
    return (await session.scalars(query)).all()


async def fired_by_kind(*, session: AsyncSession) -> dict[str, int]:
    """How many timers fired (said something), by kind: the `guarantor_timers_fired` counter."""
    query = (
        select(col(Timer.kind), func.count())
        .where(col(Timer.outcome) == TimerOutcome.FIRED.value)
        .group_by(col(Timer.kind))
    )
    return {str(kind): int(n) for kind, n in (await session.execute(query)).all()}
