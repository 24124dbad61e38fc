"""Timers on the test database: a clock the test moves, a timer worker on it, and what the timers left."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import DiscordEffect, Timer
from bot.services.timers.firing import TimerWorker

Sessions = async_sessionmaker[AsyncSession]


class Clock:
    """The time a timer worker sees: moved by the test, never slept on."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    async def __call__(self, _session: Any) -> datetime:
        return self.now

    def at(self, when: datetime, *, seconds: float = 0) -> Clock:
        self.now = when + timedelta(seconds=seconds)
        return self


def worker(sessions: Sessions, clock: Clock) -> TimerWorker:
    return TimerWorker(sessions, clock=clock)


async def timers(sessions: Sessions, order_id: str | None = None) -> list[Timer]:
    query = select(Timer).order_by(Timer.due_at, Timer.id)  # type: ignore[arg-type]
    if order_id is not None:
        query = query.where(Timer.order_id == order_id)  # type: ignore[arg-type]
    async with sessions() as session:
        return list((await session.scalars(query)).all())


async def timer(sessions: Sessions, kind: str, order_id: str = "ord_1") -> Timer:
    (found,) = [t for t in await timers(sessions, order_id) if t.kind == kind]
    return found


async def notices(sessions: Sessions) -> list[DiscordEffect]:
    """The `timer.notice` effects written so far, oldest first."""
    query = select(DiscordEffect).where(DiscordEffect.kind == "timer.notice").order_by(DiscordEffect.id)  # type: ignore[arg-type]
    async with sessions() as session:
        return list((await session.scalars(query)).all())
