"""What fired timers say on Discord, and whom they ping: the unclaimed reminder pings the officer role in the
ticket; a late delivery the freelancer and the officer role; the approval reminder is a DM to the buyer, its
second stage pings the officer role; a dispute's escalation goes to the log channel. Each says what to do, in
the people's words, once; a reminder that is no longer true when it would be sent is not sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import Timer
from bot.services.escrow.rules import Action, Role
from bot.services.timers.schedule import TimerKind
from tests.cogs.test_walk import Shown
from tests.harness._tickets import TicketView

SECOND = timedelta(seconds=1)


async def due_at(env: Any, kind: TimerKind, order_id: str = "ord_1") -> Any:
    async with env.bot.runtime.sessions() as session:
        query = select(Timer).where(Timer.kind == kind.value, Timer.order_id == order_id)  # type: ignore[arg-type]
        return (await session.scalars(query)).one().due_at


def pinged(payload: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(users, roles) a message may ping: what `allowed_mentions` lets through (nothing from `parse`)."""
    allowed = payload.get("allowed_mentions") or {}
    assert allowed.get("parse", []) == [], allowed  # never @everyone, never whoever the text happens to mention
    return [int(u) for u in allowed.get("users", [])], [int(r) for r in allowed.get("roles", [])]


async def test_an_unclaimed_ticket_pings_the_officer_role_once_at_its_time(ticket: TicketView, sent) -> None:
    env = ticket.env
    due = await due_at(env, TimerKind.UNCLAIMED)
    assert await env.fire_timers(due - SECOND) == 0
    before = len(sent)
    assert await env.fire_timers(due) == 1
    ((where, reminder),) = sent[before:]
    assert where == ticket.channel.id
    assert reminder["content"].startswith(env.officer_role.mention)
    assert "no Guarantor Officer has claimed it" in reminder["content"] and "**Claim**" in reminder["content"]
    assert pinged(reminder) == ([], [env.officer_role.id])
    assert await env.fire_timers(due + timedelta(days=3)) == 0 and len(sent) == before + 1


async def test_a_claimed_ticket_hears_nothing(ticket: TicketView, sent) -> None:
    env = ticket.env
    await ticket.click("claim", env.officer)
    before = len(sent)
    await env.fire_timers(await due_at(env, TimerKind.UNCLAIMED))
    assert sent[before:] == []


async def test_a_late_delivery_tells_the_freelancer_and_the_officers(ticket: TicketView, sent) -> None:
    env = ticket.env
    await ticket.click("claim", env.officer)
    await ticket.click_and_write("fund", env.officer, "REF-1")
    due = await due_at(env, TimerKind.DELIVERY_OVERDUE)
    await env.fire_timers(due - SECOND)
    before = len(sent)
    await env.fire_timers(due)
    ((where, late),) = sent[before:]
    assert where == ticket.channel.id
    assert env.freelancer.mention in late["content"] and env.officer_role.mention in late["content"]
    assert "delivery date of order ord_1" in late["content"] and "**Mark delivered**" in late["content"]
    assert pinged(late) == ([env.freelancer.id], [env.officer_role.id])


async def test_a_delivery_in_time_silences_it(ticket: TicketView, sent) -> None:
    env = ticket.env
    await ticket.click("claim", env.officer)
    await ticket.click_and_write("fund", env.officer, "REF-1")
    await ticket.click("deliver", env.freelancer)
    before = len(sent)
    await env.fire_timers(await due_at(env, TimerKind.DELIVERY_OVERDUE))
    assert sent[before:] == []


async def delivered(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click("claim", env.officer)
    await ticket.click_and_write("fund", env.officer, "REF-1")
    await ticket.click("deliver", env.freelancer)


async def test_an_approval_waiting_reminds_the_buyer_by_dm_then_pings_the_officers(ticket: TicketView, sent) -> None:
    env = ticket.env
    await delivered(ticket)
    remind, flag = await due_at(env, TimerKind.APPROVAL_REMINDER), await due_at(env, TimerKind.APPROVAL_OVERDUE)
    before = len(sent)
    await env.fire_timers(remind)
    ((where, dm),) = sent[before:]
    assert where == env.buyer.dm_channel.id
    assert "waits for your approval" in dm["content"] and "**Approve the work**" in dm["content"]
    assert "**Open dispute**" in dm["content"] and "Automatic notice" in dm["content"]
    assert env.guild.name in dm["content"] and str(ticket.channel.id) in dm["content"]  # where it comes from

    await env.fire_timers(flag - SECOND)
    assert len(sent) == before + 1
    await env.fire_timers(flag)
    ((where, flagged),) = sent[before + 1 :]
    assert where == ticket.channel.id
    assert "has not approved it, even after a reminder" in flagged["content"]
    assert env.buyer.mention in flagged["content"]  # named, not pinged
    assert pinged(flagged) == ([], [env.officer_role.id])


async def test_a_buyer_with_closed_dms_is_reminded_in_the_ticket(ticket: TicketView, sent) -> None:
    env = ticket.env
    await delivered(ticket)
    env.close_dms(env.buyer)
    before = len(sent)
    await env.fire_timers(await due_at(env, TimerKind.APPROVAL_REMINDER))
    (fallback,) = [p for cid, p in sent[before:] if cid == ticket.channel.id]
    assert fallback["content"].startswith(env.buyer.mention) and "waits for your approval" in fallback["content"]
    assert pinged(fallback) == ([env.buyer.id], [])


async def test_an_approval_silences_the_reminders(ticket: TicketView, sent) -> None:
    env = ticket.env
    await delivered(ticket)
    await ticket.click("approve", env.buyer)
    before = len(sent)
    await env.fire_timers(await due_at(env, TimerKind.APPROVAL_OVERDUE))
    assert sent[before:] == []


@pytest.mark.parametrize("log_channel", [True, False], ids=["log-channel", "no-log-channel"])
async def test_a_dispute_left_undecided_is_escalated(ticket: TicketView, sent, log_channel: bool) -> None:
    env = ticket.env
    if log_channel:
        await env.driver.command(
            "guarantee setup", by=env.admin, channel=env.channel, officer_role=env.officer_role, log_channel=env.channel
        )
    await ticket.click("claim", env.officer)
    await ticket.click_and_write("fund", env.officer, "REF-1")
    await ticket.click_and_write("dispute", env.buyer, "the files are empty")
    due = await due_at(env, TimerKind.DISPUTE_ESCALATION)
    await env.fire_timers(due - SECOND)
    before = len(sent)
    await env.fire_timers(due)
    ((where, escalated),) = sent[before:]
    assert where == (env.channel if log_channel else ticket.channel).id
    assert "dispute on order ord_1" in escalated["content"] and ticket.channel.mention in escalated["content"]
    assert "**Resolve: release to freelancer**" in escalated["content"]
    assert pinged(escalated) == ([], [env.officer_role.id])


async def test_a_reminder_no_longer_true_when_discord_is_back_is_not_sent(ticket: TicketView, sent) -> None:
    """Fired while Discord was away; the ticket was claimed before the message could go: it does not go."""
    env = ticket.env
    env.bot._ready.clear()
    await env.fire_timers(await due_at(env, TimerKind.UNCLAIMED))  # fired: its message waits in the outbox
    await env.bot.runtime.escrow.act("ord_1", Action.CLAIM, actor_id=env.officer.id, actor_role=Role.OFFICER)
    env.bot._ready.set()
    before = len(sent)
    await env.work_effects()
    assert [p["content"] for _cid, p in sent[before:] if "claimed it yet" in p.get("content", "")] == []
    assert any("claimed this ticket" in p.get("content", "") for _cid, p in sent[before:])  # the claim's own line went


async def test_no_internal_word_in_any_timer_message(discord_env, monkeypatch: pytest.MonkeyPatch) -> None:
    env = discord_env
    shown = Shown(env, monkeypatch)
    await env.driver.command(
        "guarantee setup", by=env.admin, channel=env.channel, officer_role=env.officer_role, log_channel=env.channel
    )
    orders = {}
    for order_id in ("ord_1", "ord_2", "ord_3"):
        await env.agree_order(order_id)
        orders[order_id] = await env.open_ticket_and_join(order_id)
    for view in orders.values():
        await view.click_and_write("fund", env.officer, "REF-1")
    await orders["ord_2"].click("deliver", env.freelancer)
    await orders["ord_3"].click_and_write("dispute", env.buyer, "the files are empty")
    shown.texts.clear()
    assert await env.fire_timers(await due_at(env, TimerKind.APPROVAL_OVERDUE, "ord_2") + timedelta(days=30)) == 9
    kinds = [
        "has claimed it yet",
        "delivery date",
        "waits for your approval",
        "even after a reminder",
        "dispute on order",
    ]
    assert [k for k in kinds if not any(k in text for text in shown.texts)] == []
    assert shown.internal_words() == []
