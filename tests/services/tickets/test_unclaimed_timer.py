"""A ticket opened (by `/guarantee open`, by a waiting request, or reopened) sets its unclaimed-ticket reminder in
the same transaction; it fires at its time unless an officer claimed the ticket first."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.db.models import TimerOutcome
from bot.services.escrow.rules import Action, Role
from bot.services.escrow.service import EscrowService
from bot.services.tickets.service import OpenStatus, TicketService
from bot.services.timers.schedule import TimerKind, TimerPeriods
from tests.services.tickets.test_service import GIG, agree, all_tickets, open_
from tests.services.timers.support import Clock, notices, timer, timers, worker


async def test_an_opened_ticket_reminds_the_officers_once_after_the_period(sessions, processor, service) -> None:
    await agree(sessions, processor)
    assert (await open_(service)).status is OpenStatus.OPENED
    unclaimed = await timer(sessions, TimerKind.UNCLAIMED)
    assert unclaimed.due_at - unclaimed.created_at == timedelta(minutes=30)  # UNCLAIMED_REMINDER_MINUTES' default
    clock = Clock(unclaimed.due_at - timedelta(seconds=1))
    timers_ = worker(sessions, clock)
    assert await timers_.work() == 0 and await notices(sessions) == []
    clock.at(unclaimed.due_at)
    assert await timers_.work() == 1
    (notice,) = await notices(sessions)
    assert json.loads(notice.payload)["timer"] == "unclaimed" and notice.order_id == "ord_1"
    clock.at(unclaimed.due_at, seconds=3600)
    assert await timers_.work() == 0 and len(await notices(sessions)) == 1


async def test_a_ticket_claimed_in_time_gets_no_reminder(sessions, processor, service) -> None:
    await agree(sessions, processor)
    await open_(service)
    await EscrowService(sessions).act("ord_1", Action.CLAIM, actor_id=2001, actor_role=Role.OFFICER)
    unclaimed = await timer(sessions, TimerKind.UNCLAIMED)
    assert await worker(sessions, Clock(unclaimed.due_at)).work() == 1  # taken, and found obsolete
    assert await notices(sessions) == []
    assert (await timer(sessions, TimerKind.UNCLAIMED)).outcome == TimerOutcome.OBSOLETE


async def test_a_ticket_a_waiting_request_opens_gets_its_reminder(sessions, processor, service) -> None:
    assert (await open_(service)).status is OpenStatus.PENDING  # before the agreement
    assert await timers(sessions) == []
    await agree(sessions, processor)  # the request becomes the ticket, in the agreement's transaction
    (ticket,) = await all_tickets(sessions)
    (unclaimed,) = await timers(sessions)
    assert (unclaimed.kind, unclaimed.order_id, unclaimed.fired_at) == ("unclaimed", ticket.order_id, None)


async def test_a_reopened_ticket_gets_a_new_reminder(sessions, processor, service, opener) -> None:
    await agree(sessions, processor)
    await open_(service)
    first = await timer(sessions, TimerKind.UNCLAIMED)
    opener.gone.add(1001)
    assert await service.channel_deleted(1001)
    assert (await open_(service)).status is OpenStatus.OPENED
    both = await timers(sessions)
    assert [t.kind for t in both] == ["unclaimed", "unclaimed"] and both[0].id == first.id
    assert both[0].generation != both[1].generation


async def test_the_period_is_the_configured_one(sessions, processor, opener) -> None:
    periods = TimerPeriods.of(unclaimed_minutes=5, approval_hours=1, dispute_hours=2)
    service = TicketService(sessions, marketplace_host="opentaskai.com", pending_hours=72, timer_periods=periods)
    service.attach(opener)
    await agree(sessions, processor)
    await service.open(guild_id=1, user_id=7, channel_id=5, email="seller@example.com", gig_link=GIG)
    unclaimed = await timer(sessions, TimerKind.UNCLAIMED)
    assert unclaimed.due_at - unclaimed.created_at == timedelta(minutes=5)
