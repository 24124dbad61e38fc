"""Discord 429/403/5xx storms while many tickets open at once: in the end every order has
exactly one open ticket, one channel and one summary message.

The freelancers retry `/guarantee open` the way a person would (an error reply, or "being
opened", means try again); the product resumes an `opening` ticket and reuses a channel made
before a failure. Bursts are drawn from `RESILIENCE_SEED` (random when unset; printed on failure).
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import discord

from bot.db.models import TicketState
from tests.cogs.tickets.conftest import env, gig, open_ticket, ticket_channels, tickets
from tests.harness import _faults as routes
from tests.harness._world import DiscordEnv
from tests.harness.plugin import Deliver

__all__ = ["env"]  # fixtures

ORDERS = 12
MAX_TRIES = 30
STORMY_TRIES = 3  # each freelancer's first tries bring new bursts; then the weather clears
ROUTES = (routes.CREATE_CHANNEL, routes.SEND_MESSAGE)
# (status, most times in a row): 429s are waited out; 500/502/504 are retried up to 5 tries by
# discord.py, so 5 in a row surface as errors; 403 and 503 surface at once.
STORMS = ((429, 6), (403, 2), (500, 6), (502, 5), (503, 2), (504, 3))


def storm(env: DiscordEnv, rng: random.Random) -> None:
    for route in ROUTES:
        if rng.random() < 0.4:
            status, most = rng.choice(STORMS)
            env.faults.fail(route, status, times=rng.randint(1, most), retry_after=rng.uniform(0.001, 0.02))


def freelancer(env: DiscordEnv, n: int) -> discord.Member:
    """One freelancer per order (`/guarantee open` has a per-user cooldown)."""
    return env.add_member(f"freelancer{n}", f"{5000 + n}")


async def open_until_done(env: DiscordEnv, n: int, rng: random.Random) -> int:
    """Run `/guarantee open` for order n until its ticket is open; returns the tries it took."""
    by = freelancer(env, n)
    for attempt in range(1, MAX_TRIES + 1):
        if attempt <= STORMY_TRIES:
            storm(env, rng)
        await open_ticket(env, link=gig(f"ord_{n}"), by=by)
        if any(t.order_id == f"ord_{n}" and t.state == TicketState.OPEN for t in await tickets(env)):
            return attempt
        await asyncio.sleep(rng.uniform(0, 0.01))
    return MAX_TRIES + 1


async def test_storms_while_opening_end_with_every_ticket_opened_once(env: DiscordEnv, deliver: Deliver) -> None:
    seed = int(os.environ.get("RESILIENCE_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    for n in range(ORDERS):
        await deliver(order_id=f"ord_{n}")

    tries = await asyncio.gather(*(open_until_done(env, n, random.Random(rng.random())) for n in range(ORDERS)))
    env.faults.clear()
    await env.driver.settle()

    context = f"RESILIENCE_SEED={seed} tries={tries} failures={len(env.faults.failures)}"
    assert max(tries) <= MAX_TRIES, context
    assert env.faults.failures, context  # the storm did happen
    rows = await tickets(env)
    assert sorted(t.order_id for t in rows) == sorted(f"ord_{n}" for n in range(ORDERS)), context
    assert {t.state for t in rows} == {TicketState.OPEN}, context
    channels = ticket_channels(env)
    assert sorted(c.name for c in channels) == sorted(f"guarantee-ord_{n}" for n in range(ORDERS)), context
    assert {t.channel_id for t in rows} == {c.id for c in channels}, context
    for channel in channels:
        summaries: list[dict[str, Any]] = [m for m in env.messages(channel) if m.get("embeds")]
        assert len(summaries) == 1, f"{channel.name}: {len(summaries)} summaries; {context}"
        (row,) = [t for t in rows if t.channel_id == channel.id]
        assert row.summary_message_id == summaries[0]["id"], context
