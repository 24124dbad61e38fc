"""A receiver whose database transaction hangs holds up nobody for long (PostgreSQL's lock timeout), and a
writer stuck on one batch turns /healthz degraded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import create_engine
from bot.runtime import Runtime
from bot.services.events import intake as intake_module
from bot.services.events.intake import EventIntake, IncomingEvent, StorageUnavailable


def incoming(webhook_id: str) -> IncomingEvent:
    return IncomingEvent(webhook_id=webhook_id, type="order.agreed", order_id=None, body="{}")


async def test_a_stalled_receiver_holds_up_a_healthy_one_only_for_its_own_event(
    engine: AsyncEngine, database_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer; receivers side by side need PostgreSQL")
    stalled = await engine.connect()  # receiver A stored "dup" and hangs before its commit
    await stalled.begin()
    await stalled.execute(
        text(
            "INSERT INTO webhook_events (webhook_id, type, body, received_at, status, attempts) "
            "VALUES ('dup', 'order.agreed', '{}', now(), 'pending', 0)"
        )
    )
    healthy_engine = create_engine(database_url)
    healthy = EventIntake(healthy_engine)  # receiver B, its own process in production
    healthy.start()
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):  # the redelivery waits on A's row, then gives up: 503, sent again
            await healthy.store(incoming("dup"), within=10)
        assert time.monotonic() - started < 5  # the lock timeout, not the 10 s store timeout
        assert await healthy.store(incoming("fresh"), within=10) is True  # and everything else flows
    finally:
        await stalled.rollback()
        await stalled.close()
        await healthy.close()
        await healthy_engine.dispose()


class HangingStore:
    """An event store whose database never answers."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def insert_new(self, events: Sequence[IncomingEvent]) -> set[str]:
        await self.release.wait()
        return {event.webhook_id for event in events}

    async def close(self) -> None:
        self.release.set()


async def test_a_writer_stuck_on_one_batch_makes_health_degraded(settings, monkeypatch) -> None:
    monkeypatch.setattr(intake_module, "STUCK_SECONDS", 0.2)
    runtime = Runtime(settings)
    store = HangingStore()
    runtime.intake = EventIntake(runtime.engine, store=store)
    runtime.intake.start()
    try:
        assert await runtime.database_ok()
        waiting = asyncio.create_task(runtime.intake.store(incoming("m1")))
        await asyncio.sleep(0.3)
        assert runtime.intake.stuck() and not await runtime.database_ok()
        store.release.set()
        assert await waiting is True
        assert await runtime.database_ok()
    finally:
        await runtime.intake.close()
        await runtime.engine.dispose()
