"""EventIntake: group commit, duplicates, failures reported, nothing lost on close."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.db.event_store import UnsupportedDatabase
from bot.services.events.intake import BUSY_WINDOW_SECONDS, EventIntake, IncomingEvent, StorageUnavailable
from tests.webhooks.conftest import count_events, stored
from tests.webhooks.events import agreed, dumps


def incoming(msg_id: str, order_id: str = "o1") -> IncomingEvent:
    return IncomingEvent(webhook_id=msg_id, type="order.agreed", order_id=order_id, body=dumps(agreed(order_id)))


async def test_batches_and_notifies_once_per_write(engine: AsyncEngine) -> None:
    notified: list[int] = []
    intake = EventIntake(engine, on_stored=lambda: notified.append(1))
    intake.start()
    try:
        results = await asyncio.gather(*(intake.store(incoming(f"m{i}", f"o{i}")) for i in range(100)))
        assert results == [True] * 100
        assert 1 <= len(notified) < 100  # grouped into few transactions
        notified.clear()
        assert await intake.store(incoming("m5")) is False
        assert notified == []  # a duplicate stores nothing and wakes nobody
    finally:
        await intake.close()
    assert await count_events(engine) == 100


async def test_close_finishes_what_was_handed_over(engine: AsyncEngine) -> None:
    intake = EventIntake(engine)
    intake.start()
    pending = [asyncio.create_task(intake.store(incoming(f"m{i}", f"o{i}"))) for i in range(20)]
    await asyncio.sleep(0)  # all handed over
    await intake.close()
    assert [task.result() for task in pending] == [True] * 20
    assert len(await stored(engine)) == 20
    with pytest.raises(StorageUnavailable):
        await intake.store(incoming("late"))


async def test_database_failure_is_reported_to_every_waiter_and_writer_survives(engine: AsyncEngine) -> None:
    broken = create_async_engine("sqlite+aiosqlite:////nonexistent-guarantor-dir/db.sqlite")
    intake = EventIntake(broken)
    intake.start()
    try:
        results = await asyncio.gather(*(intake.store(incoming(f"m{i}")) for i in range(3)), return_exceptions=True)
        assert all(isinstance(r, StorageUnavailable) for r in results)
        with pytest.raises(StorageUnavailable):  # the writer is still alive and answering
            await intake.store(incoming("again"))
    finally:
        await intake.close()
        await broken.dispose()


async def test_a_cancelled_waiter_does_not_break_the_batch(engine: AsyncEngine) -> None:
    intake = EventIntake(engine)
    intake.start()
    try:
        doomed = asyncio.create_task(intake.store(incoming("gone")))
        kept = asyncio.create_task(intake.store(incoming("kept", "o2")))
        await asyncio.sleep(0)
        doomed.cancel()
        assert await kept is True
        # The cancelled request may or may not have been stored; a retry tells which, and is safe.
        retry = await intake.store(incoming("gone"))
        assert retry in (True, False)
    finally:
        await intake.close()
    assert sorted(r.webhook_id for r in await stored(engine)) == ["gone", "kept"]


async def test_two_receivers_on_one_database_store_each_id_once(database_url: str, engine: AsyncEngine) -> None:
    """Several webhook processes side by side: the unique webhook-id decides, exactly one answer is 'new'."""
    from bot.db.engine import create_engine

    other_engine = create_engine(database_url)
    receivers = [EventIntake(engine), EventIntake(other_engine)]
    for receiver in receivers:
        receiver.start()
    try:
        ids = [f"m{i}" for i in range(30)]
        results = await asyncio.gather(
            *(receiver.store(incoming(msg_id, f"o{i}")) for i, msg_id in enumerate(ids) for receiver in receivers)
        )
    finally:
        for receiver in receivers:
            await receiver.close()
        await other_engine.dispose()
    new_per_id = [results[2 * i] + results[2 * i + 1] for i in range(len(ids))]
    assert new_per_id == [1] * len(ids)
    assert await count_events(engine) == len(ids)


class _StuckStore:
    """An event store whose database never answers until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.writing = asyncio.Event()

    async def insert_new(self, events: Sequence[IncomingEvent]) -> set[str]:
        self.writing.set()
        await self.release.wait()
        return {event.webhook_id for event in events}

    async def close(self) -> None:
        return None


async def test_a_store_that_does_not_answer_in_time_is_reported_unavailable(engine: AsyncEngine) -> None:
    store = _StuckStore()
    intake = EventIntake(engine, store=store)
    intake.start()
    try:
        with pytest.raises(StorageUnavailable, match=r"not stored within 0\.05 s"):
            await intake.store(incoming("slow"), within=0.05)
        store.release.set()
        # Stored after all: a retry of the same event is a duplicate, never lost.
        assert await intake.store(incoming("slow"), within=1) in (True, False)
        assert await intake.store(incoming("quick", "o2"), within=1) is True
    finally:
        store.release.set()
        await intake.close()


async def test_busy_while_a_batch_is_being_written(engine: AsyncEngine) -> None:
    # The processor yields to ingest while busy() is true; a batch stuck on the database lock is
    # ingest too (it used to look idle, so processing took the lock and kept ingest waiting).
    store = _StuckStore()
    intake = EventIntake(engine, store=store)
    intake.start()
    try:
        assert not intake.busy()
        waiting = [asyncio.create_task(intake.store(incoming(f"m{n}", f"o{n}"))) for n in range(2)]
        await store.writing.wait()
        await asyncio.sleep(BUSY_WINDOW_SECONDS * 2)
        assert intake.busy()
        store.release.set()
        assert await asyncio.gather(*waiting) == [True, True]
        assert intake.busy()  # a batch of several ended a moment ago: more may be on the way
        await asyncio.sleep(BUSY_WINDOW_SECONDS * 2)
        assert not intake.busy()
    finally:
        store.release.set()
        await intake.close()


async def test_one_event_at_a_time_is_not_a_burst(engine: AsyncEngine) -> None:
    intake = EventIntake(engine)
    intake.start()
    try:
        assert await intake.store(incoming("m1")) is True
        assert not intake.busy()  # the processor may work between the events of a trickle
    finally:
        await intake.close()


def test_an_sqlite_too_old_for_the_batch_insert_is_refused_at_start(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(UnsupportedDatabase, match=r"SQLite 3\.34\.1 is too old .* 3\.35\.0 or newer"):
        EventIntake(engine)
