"""Working the stored events: claim, apply (the order book), mark; then wake whoever does their effects.

Processing happens from the stored copy only, after the sender was answered, so a crash
at any point loses nothing: an event is marked processed in the same transaction that
applies it. With PostgreSQL several processes can work side by side; `FOR UPDATE SKIP
LOCKED` hands each event to exactly one of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import EventStatus, WebhookEvent
from bot.db.repos import events as event_repo
from bot.db.repos import requests as request_repo
from bot.db.repos.batch import Batch
from bot.db.types import utcnow
from bot.services.errors import error_text
from bot.services.escrow.results import Change
from bot.services.events.contract import MarketplaceEvent, NotJsonError, TermsData, parse_event, parse_event_json
from bot.services.events.order_book import AppliedEvent, OrderBook, Outcome
from bot.services.tickets import requests
from bot.services.tickets.links import gig_key
from bot.services.worker import PollingWorker

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
POLL_SECONDS = 5.0
# Events a transaction. A batch costs ~20 statements whatever its size, so a backlog is drained in big ones;
# but a batch holds SQLite's one write lock for its whole length (~0.2 s for 1,024 events on a quiet machine),
# so while webhooks arrive, and for a while after, batches are short, and storing them never waits long.
BATCH = 1024  # no webhook for RECENT_SECONDS
RECENT_BATCH = 256  # webhooks arrived in the last RECENT_SECONDS
BUSY_BATCH = 4  # webhooks arriving now
RECENT_SECONDS = 5.0
# While webhooks are arriving, acknowledging them comes first: processing waits for a quiet
# moment, but never longer than this per event, so it always makes progress. (On SQLite an
# event's transaction holds the only write lock while its statements wait their turn on the
# busy event loop — tens of milliseconds in which no webhook can be stored.)
MAX_DEFER_SECONDS = 2.0
QUIET_CHECK_SECONDS = 0.01
SWEEP_SECONDS = 60.0  # how often a pass also expires the ticket requests whose wait is over


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at 15 minutes."""
    return timedelta(seconds=min(2**attempts, 900))


class Effects(Protocol):
    """The workers that do what an event wrote to the outboxes (`bot.services.effects.EffectWorker`)."""

    def wake(self) -> None: ...

    async def escrow_changed(self, changes: Sequence[Change]) -> None: ...


class EventProcessor(PollingWorker):
    name = "guarantor-event-processor"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        orders: OrderBook,
        effects: Effects | None = None,
        *,
        poll_seconds: float = POLL_SECONDS,
        busy: Callable[[], bool] = lambda: False,
        max_defer_seconds: float = MAX_DEFER_SECONDS,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds)
        self._sessions = sessions
        self._busy = busy
        self._max_defer_seconds = max_defer_seconds
        self._orders = orders
        self._effects = effects
        self._next_sweep = 0.0  # loop time of the next request expiry sweep (the first pass does one)
        self._busy_seen = float("-inf")  # loop time webhooks were last seen arriving

    async def process_due(self, limit: int = BATCH) -> int:
        """Process up to `limit` due events in ONE transaction; returns how many were handled. At most once a
        minute a pass also expires the ticket requests whose wait is over (`expire_requests`).

        Optimistic: the batch is applied as a whole. If any event fails, the whole transaction is rolled back
        and the batch is applied again, each event in a savepoint of its own, so the bad one fails alone and
        is retried later while the others are processed."""
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_sweep:
            self._next_sweep = loop.time() + SWEEP_SECONDS
            await self.expire_requests()
        await self._release_stranded(limit)
        await self._wait_for_quiet()
        if self._busy():  # webhooks arriving: short transactions, so their writer never waits long for the lock
            self._busy_seen = loop.time()
            limit = min(limit, BUSY_BATCH)
        elif loop.time() - self._busy_seen < RECENT_SECONDS:  # more may follow at once
            limit = min(limit, RECENT_BATCH)
        try:
            handled, applied = await self._batch(limit, one_by_one=False)
        except Exception:
            log.info("a batch of events failed as a whole; applying it again one event at a time")
            handled, applied = await self._batch(limit, one_by_one=True)
        await self._wake_workers(applied)
        return handled

    async def _batch(self, limit: int, *, one_by_one: bool) -> tuple[int, list[AppliedEvent]]:
        failed: list[tuple[int, Exception]] = []
        applied: list[AppliedEvent] = []
        async with self._sessions.begin() as session:
            batch = await event_repo.claim_batch(session=session, now=utcnow(), limit=limit)
            if not one_by_one:
                return len(batch), await self._apply_all(session, batch)
            for stored in batch:
                event_id = int(stored.id or 0)
                try:
                    async with session.begin_nested():
                        applied.append(await self._apply(session, stored))
                except Exception as exc:
                    log.exception("processing event %s failed", event_id)
                    failed.append((event_id, exc))
        for event_id, error in failed:
            await self._record_failure(event_id, error)
        return len(batch), applied

    async def expire_requests(self) -> int:
        """Expire the ticket requests nothing arrived for in time; each requester is told (by the effect worker,
        which this wakes). Returns how many expired."""
        try:
            async with self._sessions() as session:  # a read first: a sweep with nothing to do writes nothing
                if not await request_repo.any_to_expire(session=session, now=utcnow()):
                    return 0
            async with self._sessions.begin() as session:
                told = await requests.expire_due(session, now=utcnow())
        except Exception:
            log.exception("expiring ticket requests failed; the next sweep tries again")
            return 0
        if told and self._effects is not None:
            self._effects.wake()
        return len(told)

    async def _release_stranded(self, limit: int) -> None:
        # Facts that waited for their order's agreement become due once it is there: released here, at the
        # start of every pass (an agreement does not release them itself: one statement fewer for each new
        # order, and also right when the fact was marked waiting by one worker while another committed the
        # agreement, neither seeing the other's write).
        async with self._sessions() as session:
            stranded = await event_repo.stranded_ids(session=session, limit=limit)
        if stranded:
            async with self._sessions.begin() as session:
                released = await event_repo.release(session=session, event_ids=stranded)
            log.info("released %d waiting event(s) whose order has arrived", released)

    async def _wait_for_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._max_defer_seconds  # real time: a busy loop sleeps longer than asked
        while self._busy() and loop.time() < give_up_at:  # busy() is about time: there is no event to await
            self._busy_seen = loop.time()
            await asyncio.sleep(QUIET_CHECK_SECONDS)

    async def process_one(self, event_id: int) -> bool:
        """Process one event in its own transaction (False when another worker has it, or it is done)."""
        try:
            async with self._sessions.begin() as session:
                stored = await event_repo.claim(session=session, event_id=event_id)
                if stored is None:
                    return False
                applied = await self._apply(session, stored)
        except Exception as exc:
            # Not the traceback: its last line is the error as raised, with whatever values it quotes.
            log.error("processing event %s failed: %s", event_id, error_text(exc))
            await self._record_failure(event_id, exc)
            return True
        await self._wake_workers([applied])
        return True

    async def _wake_workers(self, applied: list[AppliedEvent]) -> None:
        """The effects are in the outboxes already: wake whoever does them (a failed wake-up only delays them
        until that worker's next poll)."""
        if self._effects is None:
            return
        changes = [change for one in applied for change in one.changes]
        try:
            if changes:
                await self._effects.escrow_changed(changes)
            elif any(one.effects for one in applied):
                self._effects.wake()
        except Exception:
            log.exception("waking the workers after processing failed")

    async def _apply_all(self, session: AsyncSession, batch: Sequence[WebhookEvent]) -> list[AppliedEvent]:
        """Apply a claimed batch as a whole: what its events read is read first, a few queries in all
        (`bot.db.repos.batch`), and what they write is written after the last one, one statement per table;
        then the events are marked, one statement per outcome."""
        events = [(stored, _parsed(stored)) for stored in batch]
        order_ids = {event.data.order_id for _stored, event in events if event.data is not None}
        gigs = {gig_key(event.data.gig_url) for _stored, event in events if isinstance(event.data, TermsData)}
        webhook_ids = {stored.webhook_id for stored in batch}
        work = await Batch.open(session, order_ids=order_ids, event_ids=webhook_ids, gig_keys=gigs, now=utcnow())
        try:
            applied = [await self._orders.apply(session, event, stored.webhook_id) for stored, event in events]
            await work.write()
        finally:
            work.close()
        outcomes: dict[EventStatus, list[int]] = {status: [] for status in EventStatus}
        for stored, one in zip(batch, applied, strict=True):
            outcomes[_STATUS.get(one.outcome, EventStatus.PROCESSED)].append(int(stored.id or 0))
        await event_repo.mark(session=session, outcomes=outcomes, now=utcnow())
        return applied

    async def _apply(self, session: AsyncSession, stored: WebhookEvent) -> AppliedEvent:
        applied = await self._orders.apply(session, _parsed(stored), stored.webhook_id)
        stored.attempts += 1
        stored.last_error = None
        if applied.outcome is Outcome.WAITING:
            stored.status = EventStatus.WAITING
        elif applied.outcome is Outcome.IGNORED:
            stored.status, stored.processed_at = EventStatus.IGNORED, utcnow()
        else:
            stored.status, stored.processed_at = EventStatus.PROCESSED, utcnow()
        return applied

    async def _record_failure(self, event_id: int, exc: Exception) -> None:
        async with self._sessions.begin() as session:
            stored = await event_repo.get(session=session, event_id=event_id)
            if stored is None:
                return
            stored.attempts += 1
            stored.last_error = error_text(exc)
            if stored.attempts >= MAX_ATTEMPTS:
                stored.status = EventStatus.FAILED
                log.error("event %s failed %d times; left for an operator", stored.webhook_id, stored.attempts)
            else:
                stored.next_attempt_at = utcnow() + backoff(stored.attempts)

    async def work(self) -> int:
        return await self.process_due()


_STATUS = {Outcome.WAITING: EventStatus.WAITING, Outcome.IGNORED: EventStatus.IGNORED}  # else: processed


def _parsed(stored: WebhookEvent) -> MarketplaceEvent:
    try:
        return parse_event_json(stored.body)
    except NotJsonError:
        # Stored by an earlier build, which parsed bodies with json.loads: it also took lone
        # surrogate escapes and deep nesting, which pydantic-core refuses. Acknowledged, so applied.
        return parse_event(json.loads(stored.body))
