"""Timers fire once however many workers run: two workers on separate engines racing over the same due timers
(on PostgreSQL, as two processes would), and the runtime runs its timer worker only where events are worked
(not in `--receive-only` receivers), on the configured periods. `/metrics` counts what fired, by kind."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from prometheus_client import generate_latest
from sqlalchemy import text

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models import TimerOutcome
from bot.db.repos import stats
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.services.escrow.rules import Action, Role
from bot.services.timers.schedule import TimerKind
from bot.settings import Settings
from tests.services.escrow.escrow_support import FREELANCER, OFFICER, make_world
from tests.services.timers.support import Clock, notices, timers, worker

ORDERS = 12


async def delivered_orders(sessions, count: int) -> None:
    world = make_world(sessions)
    for n in range(count):
        order_id = f"ord_{n}"
        await world.order(order_id)
        await world.escrow.act(order_id, Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY")
        await world.escrow.act(order_id, Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)


async def test_two_workers_with_their_own_engines_fire_each_timer_exactly_once(database_url, sessions) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("workers side by side need PostgreSQL (set TEST_DATABASE_URL)")
    await delivered_orders(sessions, ORDERS)
    latest = max(t.due_at for t in await timers(sessions))
    clock = Clock(latest + timedelta(hours=1))  # every timer is due: 3 an order, one obsolete (delivered in time)
    engines = [create_engine(database_url) for _ in range(2)]
    try:
        workers = [worker(create_sessionmaker(engine), clock) for engine in engines]
        for engine in engines:  # connected before the start, so neither is ahead by a connection's set-up
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        for _round in range(3):  # they race on every pass; passes after the first find nothing left
            await asyncio.gather(*(w.work() for w in workers))
    finally:
        for engine in engines:
            await engine.dispose()
    fired = sum((w.fired for w in workers), Counter())
    assert fired == {"approval_reminder": ORDERS, "approval_overdue": ORDERS}  # each once, between them
    assert all(w.fired for w in workers), "the race was not a race: one worker took everything"
    assert len(await notices(sessions)) == 2 * ORDERS
    outcomes = Counter((t.kind, t.outcome) for t in await timers(sessions))
    assert outcomes[("delivery_overdue", TimerOutcome.OBSOLETE)] == ORDERS


async def test_the_metric_counts_timers_that_fired_by_kind(sessions) -> None:
    await delivered_orders(sessions, 2)
    reminders = [t for t in await timers(sessions) if t.kind == TimerKind.APPROVAL_REMINDER]
    async with sessions() as session:
        assert (await stats.read(session=session))["timers_fired"] == {}
    await worker(sessions, Clock(max(t.due_at for t in reminders))).work()
    async with sessions() as session:
        assert (await stats.read(session=session))["timers_fired"] == {"approval_reminder": 2}  # not the obsolete
    metrics = Metrics()
    await metrics.database.refresh(sessions)
    scraped = generate_latest(metrics.registry).decode()
    assert 'guarantor_timers_fired_total{kind="approval_reminder"} 2.0' in scraped


async def test_the_runtime_sets_timers_on_the_configured_periods(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"unclaimed_reminder_minutes": 7, "approval_reminder_hours": 3, "dispute_escalation_hours": 5}
    )
    runtime = Runtime(configured)
    try:
        await runtime.start(serve_webhooks=False)
        assert runtime.timers._task is not None  # the worker process runs the timers
        world = make_world(runtime.sessions)
        await world.order()
        await runtime.escrow.act("ord_1", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY")
        await runtime.escrow.act("ord_1", Action.DISPUTE, actor_id=FREELANCER, actor_role=Role.FREELANCER, note="x")
        (escalation,) = [t for t in await timers(runtime.sessions) if t.kind == TimerKind.DISPUTE_ESCALATION]
        assert escalation.due_at - escalation.created_at == timedelta(hours=5)
    finally:
        await runtime.close()
    assert runtime.timers._task is None


async def test_a_receive_only_process_runs_no_timers(settings: Settings) -> None:
    runtime = Runtime(settings)
    try:
        await runtime.start(serve_webhooks=False, process=False)
        assert runtime.timers._task is None
    finally:
        await runtime.close()
