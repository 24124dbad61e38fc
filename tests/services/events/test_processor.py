"""EventProcessor + OrderBook: stored events become orders, in any order, any number of times."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.db.models import DiscordEffect, EventStatus, TicketRequest, WebhookEvent
from bot.services.escrow.marketplace import MarketplaceEscrow
from bot.services.events import processor as processing
from bot.services.events.intake import EventIntake, IncomingEvent
from bot.services.events.order_book import AppliedEvent, OrderBook, Outcome
from bot.services.events.processor import MAX_ATTEMPTS, EventProcessor
from bot.services.tickets import requests as ticket_requests
from tests.services.helpers import (
    RecordingEffects,
    Sessions,
    all_orders,
    escrow_step,
    event_row,
    history,
    order,
    order_book,
    store,
)
from tests.webhooks.events import agreed, dumps, event, terms


@pytest.fixture
def processor(sessions: Sessions) -> EventProcessor:
    return EventProcessor(sessions, order_book(sessions))


async def snapshot(sessions: Sessions, order_id: str) -> tuple[object, ...]:
    current = await order(sessions, order_id)
    assert current is not None
    versions = [(t.event_id, t.amount, t.applied) for t in await history(sessions, order_id)]
    return (current.model_dump(exclude={"updated_at"}), versions)


async def test_agreed_creates_the_order(sessions: Sessions, processor: EventProcessor) -> None:
    await store(sessions, "m1", agreed("o1"))
    assert await processor.process_due() == 1

    created = await order(sessions, "o1")
    assert created is not None
    assert created.amount == Decimal("120.50") and isinstance(created.amount, Decimal)
    assert str(created.amount) == "120.50"
    assert created.delivery_due == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert created.delivery_due.tzinfo is not None and created.agreed_at.tzinfo is not None
    assert (created.seller_email, created.buyer_email, created.currency) == (
        "seller@example.com", "buyer@example.com", "USD",
    )  # fmt: skip
    assert created.gig_key == "opentaskai.com/gigs/o1-logo"
    assert (created.terms_version, created.terms_event_id) == (1, "m1")
    versions = await history(sessions, "o1")
    assert [(v.event_id, v.event_type, v.applied) for v in versions] == [("m1", "order.agreed", True)]
    row = await event_row(sessions, "m1")
    assert (row.status, row.attempts, row.last_error) == (EventStatus.PROCESSED, 1, None)
    assert row.processed_at is not None


async def test_later_update_applies_and_keeps_the_earlier_version(
    sessions: Sessions, processor: EventProcessor
) -> None:
    await store(sessions, "m1", agreed("o1"))
    await store(sessions, "m2", event("order.updated", terms("o1", amount="200", agreed_at="2026-11-25T11:00:00Z")))
    await processor.process_due()

    current = await order(sessions, "o1")
    assert current is not None
    assert (current.amount, current.terms_version, current.terms_event_id) == (Decimal("200.00"), 2, "m2")
    versions = await history(sessions, "o1")
    assert [(v.event_id, v.amount, v.applied) for v in versions] == [
        ("m1", Decimal("120.50"), True),
        ("m2", Decimal("200.00"), True),
    ]


async def test_older_update_is_recorded_not_applied(sessions: Sessions, processor: EventProcessor) -> None:
    await store(sessions, "m2", event("order.updated", terms("o1", amount="200", agreed_at="2026-11-25T11:00:00Z")))
    await store(sessions, "m1", agreed("o1"))  # the agreement arrives after its update
    await processor.process_due()

    current = await order(sessions, "o1")
    assert current is not None
    assert (current.amount, current.terms_version, current.terms_event_id) == (Decimal("200.00"), 1, "m2")
    versions = await history(sessions, "o1")
    assert [(v.event_id, v.applied) for v in versions] == [("m2", True), ("m1", False)]
    assert versions[1].note and "older" in versions[1].note
    assert (await event_row(sessions, "m1")).status == EventStatus.PROCESSED


async def test_facts_before_agreement_wait_and_then_apply(sessions: Sessions, processor: EventProcessor) -> None:
    await store(sessions, "c", event("order.cancelled", {"order_id": "o1", "reason": "buyer left"}))
    await store(sessions, "d", event("order.delivered", {"order_id": "o1", "delivered_at": "2026-11-26T10:00:00Z"}))
    await store(sessions, "f", event("order.completed", {"order_id": "o1", "completed_at": "2026-11-27T10:00:00Z"}))
    await processor.process_due()

    assert await order(sessions, "o1") is None
    for msg_id in "cdf":
        assert (await event_row(sessions, msg_id)).status == EventStatus.WAITING
    assert await processor.process_due() == 0  # waiting events are not retried in a loop

    await store(sessions, "a", agreed("o1"))
    while await processor.process_due():
        pass

    current = await order(sessions, "o1")
    assert current is not None
    assert current.cancelled_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert current.cancel_reason == "buyer left"
    assert current.delivered_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert current.completed_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    for msg_id in "cdfa":
        assert (await event_row(sessions, msg_id)).status == EventStatus.PROCESSED


async def test_waiting_event_for_another_order_stays_waiting(sessions: Sessions, processor: EventProcessor) -> None:
    await store(sessions, "c", event("order.cancelled", {"order_id": "other"}))
    await processor.process_due()
    await store(sessions, "a", agreed("o1"))
    await processor.process_due()
    assert (await event_row(sessions, "c")).status == EventStatus.WAITING


async def test_replaying_any_event_changes_nothing(sessions: Sessions, processor: EventProcessor) -> None:
    ids = {
        "a": await store(sessions, "a", agreed("o1")),
        "u": await store(
            sessions, "u", event("order.updated", terms("o1", amount="300", agreed_at="2026-11-25T12:00Z"))
        ),
        "s": await store(sessions, "s", event("order.updated", terms("o1", amount="1", agreed_at="2026-11-25T08:00Z"))),
        "d": await store(
            sessions, "d", event("order.delivered", {"order_id": "o1", "delivered_at": "2026-11-26T10:00Z"})
        ),
        "c": await store(sessions, "c", event("order.cancelled", {"order_id": "o1"})),
    }
    await processor.process_due()
    before = await snapshot(sessions, "o1")

    for event_id in ids.values():  # processed already: claimed by nobody
        assert await processor.process_one(event_id) is False
    async with sessions.begin() as session:  # an operator resets everything to pending
        await session.execute(update(WebhookEvent).values(status=EventStatus.PENDING.value))
    assert await processor.process_due() == len(ids)

    assert await snapshot(sessions, "o1") == before
    assert len(await all_orders(sessions)) == 1


async def test_fact_is_recorded_once(sessions: Sessions, processor: EventProcessor) -> None:
    await store(sessions, "a", agreed("o1"))
    await store(sessions, "d1", event("order.delivered", {"order_id": "o1", "delivered_at": "2026-11-26T10:00Z"}))
    await store(sessions, "d2", event("order.delivered", {"order_id": "o1", "delivered_at": "2026-11-28T10:00Z"}))
    outcomes: list[Outcome] = []

    class RecordingBook(OrderBook):
        async def apply(self, session: AsyncSession, *args: Any) -> AppliedEvent:
            applied = await super().apply(session, *args)
            outcomes.append(applied.outcome)
            return applied

    await EventProcessor(sessions, RecordingBook(escrow_step(sessions))).process_due()
    assert outcomes == [Outcome.CREATED, Outcome.FACT_RECORDED, Outcome.ALREADY_APPLIED]
    current = await order(sessions, "o1")
    assert current is not None and current.delivered_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


async def test_unknown_type_is_ignored(sessions: Sessions, processor: EventProcessor) -> None:
    await store(sessions, "x", event("order.teleported", {"order_id": "o1"}))
    await processor.process_due()
    assert (await event_row(sessions, "x")).status == EventStatus.IGNORED
    assert await all_orders(sessions) == []


async def test_failure_is_retried_with_backoff_then_failed(
    sessions: Sessions, processor: EventProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: OrderBook, session: AsyncSession, *args: object) -> AppliedEvent:
        raise RuntimeError("order book exploded")

    monkeypatch.setattr(OrderBook, "apply", broken)
    event_id = await store(sessions, "m1", agreed("o1"))
    started = datetime.now(UTC)
    await processor.process_due()

    row = await event_row(sessions, "m1")
    assert (row.status, row.attempts) == (EventStatus.PENDING, 1)
    assert row.last_error == "RuntimeError: order book exploded"
    assert row.next_attempt_at is not None
    assert started + timedelta(seconds=1) < row.next_attempt_at < datetime.now(UTC) + timedelta(seconds=3)
    assert await processor.process_due() == 0  # not due before its backoff

    for attempt in range(2, MAX_ATTEMPTS + 1):
        async with sessions.begin() as session:
            await session.execute(update(WebhookEvent).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert await processor.process_one(event_id) is True
        row = await event_row(sessions, "m1")
        assert row.attempts == attempt
    assert row.status == EventStatus.FAILED
    assert await order(sessions, "o1") is None


def test_backoff_grows_and_is_capped() -> None:
    delays = [processing.backoff(n).total_seconds() for n in range(1, 15)]
    assert delays[:3] == [2, 4, 8]
    assert delays == sorted(delays) and max(delays) == 900


async def test_failing_next_step_rolls_the_whole_event_back(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def react(*_args: object, **_kwargs: object) -> list[object]:
        raise ValueError("downstream broke")

    monkeypatch.setattr(MarketplaceEscrow, "react", react)  # the escrow's step, after the order was written
    await store(sessions, "m1", agreed("o1"))
    await EventProcessor(sessions, order_book(sessions)).process_due()
    assert await order(sessions, "o1") is None  # nothing half-applied
    row = await event_row(sessions, "m1")
    assert (row.status, row.attempts, row.last_error) == (EventStatus.PENDING, 1, "ValueError: downstream broke")


async def test_a_failing_wake_up_after_the_commit_does_not_fail_the_event(sessions: Sessions) -> None:
    async def broken(_changes: object) -> None:
        raise RuntimeError("the worker is gone")

    effects = RecordingEffects(broken)
    processor = EventProcessor(sessions, order_book(sessions), effects)
    await store(sessions, "m1", agreed("o1"))
    await store(sessions, "m2", event("order.cancelled", {"order_id": "o1", "reason": "gone"}))  # an escrow change
    await processor.process_due()
    assert [c.action.value for c in effects.changes] == ["cancel"]  # the wake-up was tried, and failed
    assert (await event_row(sessions, "m2")).status == EventStatus.PROCESSED


async def test_intake_wakes_the_running_processor(sessions: Sessions, engine: AsyncEngine) -> None:
    done = asyncio.Event()

    class Noticing(EventProcessor):
        async def process_due(self, limit: int = 64) -> int:
            handled = await super().process_due(limit)
            if handled:
                done.set()
            return handled

    processor = Noticing(sessions, order_book(sessions), poll_seconds=60)  # only a wake-up explains a quick result
    intake = EventIntake(engine, on_stored=processor.wake)
    processor.start()
    intake.start()
    try:
        await asyncio.sleep(0.05)  # the processor's first pass found nothing and is asleep
        await intake.store(IncomingEvent(webhook_id="m1", type="order.agreed", order_id="o1", body=dumps(agreed("o1"))))
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        await intake.close()
        await processor.close()
    assert await order(sessions, "o1") is not None


async def test_two_processors_do_not_strand_an_early_cancellation(sessions: Sessions) -> None:
    """Processor A sees no order for a cancellation while processor B is creating it: A must not leave it waiting."""
    created = asyncio.Event()

    class SlowBook(OrderBook):
        async def apply(self, session: AsyncSession, *args: Any) -> AppliedEvent:
            applied = await super().apply(session, *args)
            if applied.outcome is Outcome.WAITING:  # A's transaction stays open while B commits the agreement
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(created.wait(), 1.0)
            return applied

    slow = EventProcessor(sessions, SlowBook(escrow_step(sessions)))
    fast = EventProcessor(sessions, order_book(sessions))
    cancel_id = await store(sessions, "c", event("order.cancelled", {"order_id": "o1", "reason": "gone"}))
    agree_id = await store(sessions, "a", agreed("o1"))

    async def fast_after_slow_started() -> None:
        await asyncio.sleep(0.1)
        await fast.process_one(agree_id)
        created.set()  # B's agreement has committed

    await asyncio.gather(slow.process_one(cancel_id), fast_after_slow_started())
    for _ in range(5):  # let retries (if a backend made one) run without waiting for their backoff
        async with sessions.begin() as session:
            await session.execute(update(WebhookEvent).values(next_attempt_at=None))
        await fast.process_due()

    current = await order(sessions, "o1")
    assert current is not None and current.cancel_reason == "gone"
    assert (await event_row(sessions, "c")).status == EventStatus.PROCESSED


async def test_processing_waits_for_a_quiet_moment_while_webhooks_arrive(sessions: Sessions) -> None:
    busy = True
    processor = EventProcessor(sessions, order_book(sessions), busy=lambda: busy, max_defer_seconds=60)
    await store(sessions, "m1", agreed("o1"))
    working = asyncio.create_task(processor.process_due())
    await asyncio.sleep(0.2)
    assert not working.done()
    assert (await event_row(sessions, "m1")).status == EventStatus.PENDING
    busy = False
    async with asyncio.timeout(5):
        assert await working == 1
    assert (await event_row(sessions, "m1")).status == EventStatus.PROCESSED


async def test_processing_still_progresses_under_endless_webhooks(sessions: Sessions) -> None:
    processor = EventProcessor(sessions, order_book(sessions), busy=lambda: True, max_defer_seconds=0.1)
    await store(sessions, "m1", agreed("o1"))
    await store(sessions, "m2", agreed("o2"))
    async with asyncio.timeout(5):
        assert await processor.process_due() == 2


async def test_a_steady_trickle_of_webhooks_does_not_hold_processing_back(
    sessions: Sessions, engine: AsyncEngine
) -> None:
    # One event every 30 ms is not a burst: processing must keep up while they arrive, not fall
    # back to one event per deferral (it once counted as "busy" for 50 ms after every batch).
    processor = EventProcessor(
        sessions, order_book(sessions), poll_seconds=0.05, busy=lambda: intake.busy(), max_defer_seconds=5
    )
    intake = EventIntake(engine, on_stored=processor.wake)
    intake.start()
    processor.start()
    try:
        for n in range(30):
            body = dumps(agreed(f"o{n}"))
            await intake.store(IncomingEvent(webhook_id=f"m{n}", type="order.agreed", order_id=f"o{n}", body=body))
            await asyncio.sleep(0.03)
        processed = len(await all_orders(sessions))
    finally:
        await processor.close()
        await intake.close()
    assert processed >= 20, processed


async def test_an_event_stored_by_the_json_loads_build_is_still_applied(
    sessions: Sessions, processor: EventProcessor
) -> None:
    # Earlier builds validated with json.loads, which takes a lone surrogate escape that the
    # current parser refuses (such a body now gets a 400). Stored before the upgrade, it was
    # acknowledged: it must still be applied.
    await store(sessions, "m1", {**agreed("o1"), "note": "\ud83d"})
    assert await processor.process_due() == 1
    assert (await event_row(sessions, "m1")).status == EventStatus.PROCESSED
    assert await order(sessions, "o1") is not None


async def test_a_batch_is_one_transaction_and_a_bad_event_fails_alone(
    sessions: Sessions, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events are applied in batches, one commit each; an event that fails rolls back its own savepoint only."""
    apply = OrderBook.apply

    async def broken_for_o2(self: OrderBook, session: AsyncSession, event: Any, webhook_id: str) -> AppliedEvent:
        applied = await apply(self, session, event, webhook_id)  # it wrote its order, then fails
        if webhook_id == "m2":
            raise RuntimeError("o2 exploded")
        return applied

    monkeypatch.setattr(OrderBook, "apply", broken_for_o2)
    for n in (1, 2, 3):
        await store(sessions, f"m{n}", agreed(f"o{n}"))
    commits = 0

    def count(_connection: object) -> None:
        nonlocal commits
        commits += 1

    from sqlalchemy import event as sa_event

    sa_event.listen(engine.sync_engine, "commit", count)
    try:
        assert await EventProcessor(sessions, order_book(sessions)).process_due() == 3
    finally:
        sa_event.remove(engine.sync_engine, "commit", count)
    assert commits == 2  # the batch, then the failure's record
    assert [o.id for o in await all_orders(sessions)] == ["o1", "o3"]  # nothing of o2 kept
    assert (await event_row(sessions, "m1")).status == EventStatus.PROCESSED
    failed = await event_row(sessions, "m2")
    assert (failed.status, failed.attempts, failed.last_error) == (EventStatus.PENDING, 1, "RuntimeError: o2 exploded")
    assert (await event_row(sessions, "m3")).status == EventStatus.PROCESSED


async def test_a_pass_expires_waiting_requests_at_most_once_a_minute(sessions: Sessions, monkeypatch) -> None:
    """Requests nothing arrived for are expired by the processor's passes (with or without events), and each
    requester gets a `ticket.tell` effect in the same transaction; the sweep runs once a minute, not per pass."""
    processor = EventProcessor(sessions, order_book(sessions))
    async with sessions.begin() as session:
        await ticket_requests.keep_pending(
            session, guild_id=1, channel_id=2, user_id=3, email="s@example.com", gig_key="opentaskai.com/gigs/x",
            hours=1,
        )  # fmt: skip
        await session.execute(update(TicketRequest).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    sweeps: list[int] = []
    original = processor.expire_requests

    async def counted() -> int:
        sweeps.append(await original())
        return sweeps[-1]

    monkeypatch.setattr(processor, "expire_requests", counted)
    assert await processor.process_due() == 0 and await processor.process_due() == 0
    assert sweeps == [1]  # the first pass swept; the second, a moment later, did not
    async with sessions() as session:
        (request,) = (await session.scalars(select(TicketRequest))).all()
        (told,) = (await session.scalars(select(DiscordEffect))).all()
    assert request.state == "expired" and told.kind == "ticket.tell" and '"user_id":3' in told.payload


async def test_batches_stay_short_for_a_while_after_webhooks_arrived(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog is drained in big batches (a batch costs the same few statements whatever its size), but a batch
    holds SQLite's write lock for its whole length: while webhooks arrive a pass takes a few events, and for
    `RECENT_SECONDS` after the last one it takes `RECENT_BATCH`."""
    monkeypatch.setattr(processing, "BUSY_BATCH", 2)
    monkeypatch.setattr(processing, "RECENT_BATCH", 3)
    busy = True
    processor = EventProcessor(sessions, order_book(sessions), busy=lambda: busy, max_defer_seconds=0)
    for n in range(12):
        await store(sessions, f"m{n}", agreed(f"o{n}"))
    assert await processor.process_due() == 2  # webhooks arriving
    busy = False
    assert await processor.process_due() == 3  # they arrived a moment ago
    monkeypatch.setattr(processing, "RECENT_SECONDS", 0.0)  # … long enough ago
    assert await processor.process_due() == 7
