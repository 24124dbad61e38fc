"""The timer worker: fires due timers, once, in the worker process (not in `--receive-only` receivers).

Each timer is fired in its own transaction: taken (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so two
workers never hold the same one), looked at (`schedule.still_holds`, on the order as it is now), marked fired
with a compare-and-set on `fired_at IS NULL`, and its message written to the outbox as a `timer.notice`
effect under the timer's once-key, all in that transaction: the message is never lost and never doubled,
across restarts and processes. A timer whose reason has passed is marked obsolete and says nothing. Time is
the database's clock (or the `clock` a test passes in).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.clock import database_now
from bot.db.models import Timer, TimerOutcome
from bot.db.repos import escrow as escrow_repo
from bot.db.repos import orders as order_repo
from bot.db.repos import tickets as ticket_repo
from bot.db.repos import timers as repo
from bot.services import outbox
from bot.services.guilds import config_of
from bot.services.outbox import Effect, Kind
from bot.services.timers.schedule import TimerKind, TimerNotice, still_holds
from bot.services.worker import PollingWorker

log = logging.getLogger(__name__)

POLL_SECONDS = 15.0  # reminders are minutes apart at the finest: a pass every few seconds is plenty
BATCH = 100
RETRY_AFTER = timedelta(minutes=1)  # a timer that failed to fire (a bug, the database gone) is tried again

Clock = Callable[[AsyncSession], Awaitable[datetime]]


class Wakeable(Protocol):
    """What is told when a timer's message is in the outbox (the effect worker)."""

    def wake(self) -> None: ...


class TimerWorker(PollingWorker):
    name = "guarantor-timers"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        effects: Wakeable | None = None,
        clock: Clock = database_now,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._sessions = sessions
        self._effects = effects
        self._clock = clock
        self.fired: Counter[str] = Counter()  # what this worker fired, by kind (the metric is read from the table)

    async def work(self) -> int:
        """Fire every due timer; returns how many this pass took (fired, or found obsolete)."""
        async with self._sessions() as session:
            ids = await repo.due_ids(session=session, now=await self._clock(session), limit=BATCH)
        taken = 0
        for timer_id in ids:
            try:
                outcome = await self._fire(timer_id)
            except Exception:
                log.exception("timer %s failed to fire; tried again in %s", timer_id, RETRY_AFTER)
                await self._postpone(timer_id)
                continue
            taken += outcome is not None
            if outcome is TimerOutcome.FIRED and self._effects is not None:
                self._effects.wake()
        return taken

    async def _fire(self, timer_id: int) -> TimerOutcome | None:
        """Fire one timer, with its message, in one transaction; None when another worker has it."""
        async with self._sessions.begin() as session:
            now = await self._clock(session)
            timer = await repo.take(session=session, timer_id=timer_id, now=now)
            if timer is None:
                return None
            kind = TimerKind(timer.kind)
            ticket = await ticket_repo.for_order(session=session, order_id=timer.order_id)
            order = await order_repo.get(session=session, order_id=timer.order_id)
            escrow = await escrow_repo.get(session=session, order_id=timer.order_id)
            holds = still_holds(kind, ticket, order, escrow)
            if holds and kind is TimerKind.DELIVERY_OVERDUE and order is not None and order.delivery_due > now:
                await repo.postpone(session=session, timer_id=timer_id, until=order.delivery_due)  # a later date
                return None
            outcome = TimerOutcome.FIRED if holds else TimerOutcome.OBSOLETE
            if not await repo.mark_fired(session=session, timer_id=timer_id, now=now, outcome=outcome):
                return None
            if ticket is not None and outcome is TimerOutcome.FIRED:
                log_channel = None
                if kind is TimerKind.DISPUTE_ESCALATION:
                    config = await config_of(session, ticket.guild_id)
                    log_channel = config.log_channel_id if config is not None else None
                notice = TimerNotice(kind, timer.created_at, log_channel)
                await outbox.write(session, [Effect(timer.order_id, Kind.TIMER_NOTICE, timer.key, notice.payload())])
        self._log(timer, outcome)
        return outcome

    def _log(self, timer: Timer, outcome: TimerOutcome) -> None:
        if outcome is TimerOutcome.FIRED:
            self.fired[timer.kind] += 1
            log.info("timer %s of order %s fired", timer.kind, timer.order_id)
        else:
            log.info("timer %s of order %s no longer applies; nothing said", timer.kind, timer.order_id)

    async def _postpone(self, timer_id: int) -> None:
        try:
            async with self._sessions.begin() as session:
                now = await self._clock(session)
                await repo.postpone(session=session, timer_id=timer_id, until=now + RETRY_AFTER)
        except Exception:
            log.exception("timer %s could not be postponed", timer_id)
