"""Durable intake of marketplace events with group commit.

Each request hands its event to `EventIntake.store` and waits. One writer task takes
everything that arrived meanwhile and stores it in a single transaction, then answers
every waiting request. Nothing is acknowledged before its transaction has committed, and
a duplicate `webhook-id` (already stored, or twice in one batch) is reported as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.event_store import EventStore, IncomingEvent, create_event_store

log = logging.getLogger(__name__)

MAX_BATCH = 512
STUCK_SECONDS = 5.0  # a batch writing longer than this makes /healthz degraded
# How long after a batch of several events ingest still counts as busy: it bridges the gaps
# between back-to-back batches of a burst. Events that arrive one at a time (a batch of one)
# are a trickle, not a burst: they leave the processor free to keep up.
BUSY_WINDOW_SECONDS = 0.05

__all__ = ["EventIntake", "IncomingEvent", "StorageUnavailable"]


class StorageUnavailable(Exception):
    """The database could not store the event; the sender should retry later."""


_Waiter = tuple[IncomingEvent, "asyncio.Future[bool]"]


def _give_up(future: asyncio.Future[bool], timeout: float) -> None:
    if not future.done():
        future.set_exception(StorageUnavailable(f"not stored within {timeout:g} s"))


class EventIntake:
    """Stores events in batches; `store` returns True for a new event, False for a duplicate."""

    def __init__(
        self, engine: AsyncEngine, *, on_stored: Callable[[], None] = lambda: None, store: EventStore | None = None
    ) -> None:
        self._store = store if store is not None else create_event_store(engine)
        self._on_stored = on_stored
        self._queue: asyncio.Queue[_Waiter] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._last_batch_at = float("-inf")
        self._last_batch_size = 0
        self._writing = False
        self._write_started = 0.0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stuck(self) -> bool:
        """A batch has been writing for more than `STUCK_SECONDS`: the database is not taking events."""
        return self._writing and time.monotonic() - self._write_started > STUCK_SECONDS

    def busy(self) -> bool:
        """True during a burst: events queued or being written, or a batch of several ended a moment ago."""
        return (
            self._writing
            or not self._queue.empty()
            or (self._last_batch_size > 1 and time.monotonic() - self._last_batch_at < BUSY_WINDOW_SECONDS)
        )

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="guarantor-event-intake")

    async def close(self) -> None:
        """Finish what was handed over, then stop and release the store."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._store.close()

    async def store(self, event: IncomingEvent, *, within: float | None = None) -> bool:
        """Wait until the event is stored; `StorageUnavailable` if it cannot be, or not `within` seconds.

        An event refused for taking too long may still be stored afterwards: its sender retries and
        is then told it is a duplicate.
        """
        if not self.running:
            raise StorageUnavailable("the event writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        # A timer on the future, not asyncio.timeout(): this runs for every request.
        timer = None if within is None else loop.call_later(within, _give_up, future, within)
        self._queue.put_nowait((event, future))
        try:
            return await future
        finally:
            if timer is not None:
                timer.cancel()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._writing, self._write_started = True, time.monotonic()
            try:
                await self._write(batch)
            finally:
                self._writing = False
                self._last_batch_at = time.monotonic()
                self._last_batch_size = len(batch)
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[_Waiter]) -> None:
        first: dict[str, IncomingEvent] = {}
        for event, _future in batch:
            first.setdefault(event.webhook_id, event)
        try:
            inserted = await self._store.insert_new(list(first.values()))
        except Exception as exc:
            log.warning("could not store %d marketplace event(s): %s", len(batch), exc)
            error = StorageUnavailable(str(exc))
            for _event, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for event, future in batch:
            if not future.done():
                future.set_result(event.webhook_id in inserted and first[event.webhook_id] is event)
        if inserted:
            self._on_stored()
