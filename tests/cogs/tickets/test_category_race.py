"""Many tickets opening at once in one guild share out the categories' 50-channel room without a refusal."""

from __future__ import annotations

import asyncio

import discord

from bot.db.models import GuildConfig, TicketState
from tests.cogs.tickets.conftest import gig, open_ticket, ticket_channels, tickets
from tests.harness import _faults as routes
from tests.harness._world import DiscordEnv
from tests.harness.plugin import Deliver

OPENS = 55
FILLERS = 48


def freelancer(env: DiscordEnv, n: int) -> discord.Member:
    """One freelancer per order (`/guarantee open` has a per-user cooldown)."""
    return env.add_member(f"freelancer{n}", f"{5000 + n}")


async def configured_category(env: DiscordEnv, fillers: int) -> discord.CategoryChannel:
    base = await env.guild.create_category("Tickets")
    for n in range(fillers):
        await env.guild.create_text_channel(f"filler-{n}", category=base)
    async with env.bot.runtime.sessions.begin() as session:  # type: ignore[attr-defined]
        session.add(GuildConfig(guild_id=env.guild.id, officer_role_id=env.officer_role.id, category_id=base.id))
    return base


async def test_concurrent_opens_fill_categories_without_a_refusal(env: DiscordEnv, deliver: Deliver) -> None:
    base = await configured_category(env, FILLERS)
    for n in range(OPENS):
        await deliver(order_id=f"ord_{n}")
    env.faults.latency[routes.CREATE_CHANNEL] = 0.005  # the check-then-create window real Discord has

    results = await asyncio.gather(
        *(open_ticket(env, link=gig(f"ord_{n}"), by=freelancer(env, n)) for n in range(OPENS))
    )

    refused = [r.content for r in results if "is open" not in (r.content or "")]
    assert refused == []  # nobody has to run /guarantee open again
    assert {t.state for t in await tickets(env)} == {TicketState.OPEN}
    assert len(ticket_channels(env)) == OPENS
    sizes = {c.name: len(c.channels) for c in env.guild.categories if c.name.startswith("Tickets")}
    assert sizes == {"Tickets": 50, "Tickets 2": 50, "Tickets 3": FILLERS + OPENS - 100}
    assert len(base.channels) == 50


async def test_a_category_discord_calls_full_is_skipped_once(env: DiscordEnv, deliver: Deliver) -> None:
    """Another bot process (or a stale cache) filled the category: Discord's 400/50035 moves the ticket on."""
    await configured_category(env, 10)
    await deliver()
    env.faults.fail(routes.CREATE_CHANNEL, 400, code=50035, times=1)

    result = await open_ticket(env)

    assert "is open" in result.content
    (channel,) = ticket_channels(env)
    assert channel.category is not None and channel.category.name == "Tickets 2"


async def test_a_second_refusal_is_reported_and_leaves_no_ticket_channel(env: DiscordEnv, deliver: Deliver) -> None:
    await configured_category(env, 10)
    await deliver()
    env.faults.fail(routes.CREATE_CHANNEL, 400, code=50035, times=3)  # the channel, the new category's channel

    result = await open_ticket(env)

    assert "is open" not in result.content and result.ephemeral
    assert ticket_channels(env) == []
    env.faults.clear()
    again = await open_ticket(env)  # nothing was lost: the next try opens it
    assert "is open" in again.content
    assert len(ticket_channels(env)) == 1
