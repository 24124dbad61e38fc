"""`fire_timers`: the bot's own timer worker is stopped (nothing fires on the real clock while a test runs), and
the test fires what is due by the time it names, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db.models import Timer
from tests.harness._tickets import TicketView


async def test_timers_fire_only_when_the_test_says_and_only_once(ticket: TicketView) -> None:
    env = ticket.env
    assert env.bot.runtime.timers._task is None  # stopped by the harness
    async with env.bot.runtime.sessions() as session:
        (timer,) = (await session.scalars(select(Timer))).all()  # the ticket's unclaimed reminder
    assert await env.fire_timers(timer.due_at - timedelta(seconds=1)) == 0
    assert await env.fire_timers(timer.due_at) == 1
    assert await env.fire_timers(timer.due_at + timedelta(days=1)) == 0
    assert "claimed it yet" in ticket.lines()[-1]  # its message is in the ticket: the effects were worked
