"""Timers are set where the escrow changes, fire once at their time and not before, on a clock the test moves,
and say nothing when what they waited for happened meanwhile."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models import GuildConfig, TimerOutcome
from bot.services.escrow.rules import Action, Role
from bot.services.timers.schedule import TimerKind
from tests.services.escrow.escrow_support import BUYER, FREELANCER, GUILD, OFFICER, Sessions, make_world
from tests.services.timers.support import Clock, notices, timer, timers, worker

HOUR = timedelta(hours=1)


async def funded(sessions: Sessions, order_id: str = "ord_1"):
    world = make_world(sessions)
    await world.order(order_id)
    await world.escrow.act(order_id, Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-1")
    return world


async def delivered(sessions: Sessions, order_id: str = "ord_1"):
    world = await funded(sessions, order_id)
    await world.escrow.act(order_id, Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    return world


def payload(effect) -> dict:
    return json.loads(effect.payload)


async def test_funding_sets_the_delivery_timer_at_the_agreed_date_and_it_fires_once_not_before(sessions) -> None:
    await funded(sessions)
    due = await timer(sessions, TimerKind.DELIVERY_OVERDUE)
    assert due.due_at == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # the terms' delivery date (17:00 at +02:00)
    clock = Clock(due.due_at - timedelta(seconds=1))
    timers_ = worker(sessions, clock)
    assert await timers_.work() == 0 and await notices(sessions) == []  # a second early: nothing
    clock.at(due.due_at)
    assert await timers_.work() == 1
    (notice,) = await notices(sessions)
    assert notice.order_id == "ord_1" and notice.key == due.key
    assert payload(notice)["timer"] == "delivery_overdue"
    clock.at(due.due_at + 100 * HOUR)
    assert await timers_.work() == 0 and len(await notices(sessions)) == 1  # once
    fired = await timer(sessions, TimerKind.DELIVERY_OVERDUE)
    assert fired.fired_at == due.due_at and fired.outcome == TimerOutcome.FIRED
    assert timers_.fired == {"delivery_overdue": 1}


async def test_a_delivery_before_the_date_leaves_the_delivery_timer_silent(sessions) -> None:
    await delivered(sessions)
    due = await timer(sessions, TimerKind.DELIVERY_OVERDUE)
    clock = Clock(due.due_at + HOUR)
    await worker(sessions, clock).work()
    assert [payload(n)["timer"] for n in await notices(sessions)] == []  # the approval ones are not due yet
    assert (await timer(sessions, TimerKind.DELIVERY_OVERDUE)).outcome == TimerOutcome.OBSOLETE


async def test_delivery_reminds_the_buyer_after_the_period_then_flags_the_officers_after_a_second(sessions) -> None:
    await delivered(sessions)
    remind = await timer(sessions, TimerKind.APPROVAL_REMINDER)
    flag = await timer(sessions, TimerKind.APPROVAL_OVERDUE)
    assert remind.due_at - remind.created_at == 48 * HOUR  # APPROVAL_REMINDER_HOURS' default
    assert flag.due_at - flag.created_at == 96 * HOUR  # and a second period
    obsolete_delivery = await timer(sessions, TimerKind.DELIVERY_OVERDUE)
    clock = Clock(min(remind.due_at, obsolete_delivery.due_at) - timedelta(seconds=1))
    timers_ = worker(sessions, clock)
    assert await timers_.work() == 0
    clock.at(remind.due_at)
    await timers_.work()
    assert [payload(n)["timer"] for n in await notices(sessions)] == ["approval_reminder"]
    clock.at(flag.due_at, seconds=-1)
    await timers_.work()
    assert len(await notices(sessions)) == 1
    clock.at(flag.due_at)
    await timers_.work()
    assert [payload(n)["timer"] for n in await notices(sessions)] == ["approval_reminder", "approval_overdue"]


async def test_an_approval_silences_both_approval_timers(sessions) -> None:
    world = await delivered(sessions)
    await world.escrow.act("ord_1", Action.APPROVE, actor_id=BUYER, actor_role=Role.BUYER)
    flag = await timer(sessions, TimerKind.APPROVAL_OVERDUE)
    await worker(sessions, Clock(flag.due_at + HOUR)).work()
    assert await notices(sessions) == []
    assert {t.kind: t.outcome for t in await timers(sessions)} == {
        "delivery_overdue": TimerOutcome.OBSOLETE,
        "approval_reminder": TimerOutcome.OBSOLETE,
        "approval_overdue": TimerOutcome.OBSOLETE,
    }


async def test_a_dispute_is_escalated_to_the_log_channel_and_a_decided_one_is_not(sessions) -> None:
    world = await funded(sessions, "ord_1")
    await world.order("ord_2")
    await world.escrow.act("ord_2", Action.FUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="PAY-2")
    async with sessions.begin() as session:
        session.add(GuildConfig(guild_id=GUILD, log_channel_id=4242))
    for order_id in ("ord_1", "ord_2"):
        await world.escrow.act(order_id, Action.DISPUTE, actor_id=BUYER, actor_role=Role.BUYER, note="empty files")
    await world.escrow.act("ord_2", Action.REFUND, actor_id=OFFICER, actor_role=Role.OFFICER, note="refunded")
    escalation = await timer(sessions, TimerKind.DISPUTE_ESCALATION, "ord_1")
    assert escalation.due_at - escalation.created_at == 72 * HOUR  # DISPUTE_ESCALATION_HOURS' default
    clock = Clock(escalation.due_at - timedelta(seconds=1))
    timers_ = worker(sessions, clock)
    await timers_.work()
    assert await notices(sessions) == []
    clock.at(escalation.due_at + HOUR)
    await timers_.work()
    (notice,) = await notices(sessions)
    assert notice.order_id == "ord_1"
    assert payload(notice) == {
        "timer": "dispute_escalation", "since": escalation.created_at.isoformat(), "log_channel_id": 4242,
    }  # fmt: skip
    assert (await timer(sessions, TimerKind.DISPUTE_ESCALATION, "ord_2")).outcome == TimerOutcome.OBSOLETE


async def test_a_marketplace_completion_after_delivery_counts_as_the_approval(sessions) -> None:
    world = await delivered(sessions)
    await world.fact("order.completed", "ord_1")  # the buyer accepted the delivered work on the marketplace
    flag = await timer(sessions, TimerKind.APPROVAL_OVERDUE)
    await worker(sessions, Clock(flag.due_at)).work()
    assert await notices(sessions) == []


async def test_a_marketplace_completion_before_delivery_never_silences_the_approval_reminders(sessions) -> None:
    world = await funded(sessions)
    await world.fact("order.completed", "ord_1")  # too early: flagged, never the buyer's approval (PRODUCT.md §4)
    await world.escrow.act("ord_1", Action.DELIVER, actor_id=FREELANCER, actor_role=Role.FREELANCER)
    flag = await timer(sessions, TimerKind.APPROVAL_OVERDUE)
    await worker(sessions, Clock(flag.due_at)).work()
    assert [payload(n)["timer"] for n in await notices(sessions)] == ["approval_reminder", "approval_overdue"]


async def test_a_restart_does_not_fire_again_and_a_timer_set_before_it_still_fires(sessions, engine) -> None:
    """A new worker on a new engine (a redeploy): what fired stays fired; what was pending fires once."""
    await delivered(sessions)
    remind = await timer(sessions, TimerKind.APPROVAL_REMINDER)
    first = worker(sessions, Clock(remind.due_at))
    await first.work()
    assert [payload(n)["timer"] for n in await notices(sessions)] == ["approval_reminder"]

    again = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        restarted = worker(create_sessionmaker(again), Clock(remind.due_at + HOUR))
        assert await restarted.work() == 0
        flag = await timer(sessions, TimerKind.APPROVAL_OVERDUE)
        restarted_later = worker(create_sessionmaker(again), Clock(flag.due_at))
        assert await restarted_later.work() == 1
        assert await restarted_later.work() == 0
    finally:
        await again.dispose()
    assert [payload(n)["timer"] for n in await notices(sessions)] == ["approval_reminder", "approval_overdue"]


async def test_a_timer_never_moves_money(sessions) -> None:
    world = await delivered(sessions)
    flag = await timer(sessions, TimerKind.APPROVAL_OVERDUE)
    before = await world.state()
    await worker(sessions, Clock(flag.due_at + 1000 * HOUR)).work()
    after = await world.state()
    assert (after.state, after.version) == (before.state, before.version) == ("delivered", before.version)
    assert [e.action for e in await world.entries()] == ["fund", "deliver"]
