"""Discord effects are never lost: Discord failing (503), the bot not ready, a process without a bot, and two
workers at once all end, without a restart, in one channel, one summary, and everyone told once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import DiscordEffect, EffectStatus
from bot.runtime import Runtime
from bot.services import effects as effects_module
from bot.services.effects import EffectWorker
from bot.services.events.intake import IncomingEvent
from tests.cogs.tickets.conftest import open_ticket, requests, ticket_channels, tickets
from tests.harness import _faults as routes
from tests.harness._tickets import TicketView
from tests.webhooks.events import agreed, dumps


@pytest.fixture
def env(discord_env: Any) -> Any:
    return discord_env


async def effects(env: Any) -> list[DiscordEffect]:
    async with env.bot.runtime.sessions() as session:
        return list((await session.scalars(select(DiscordEffect).order_by(DiscordEffect.id))).all())


async def dm_texts(env: Any, member: Any) -> list[str]:
    return [m["content"] for m in env.messages(await env.driver.dm_channel(member))]


async def test_a_503_on_the_summary_of_a_waiting_request_is_retried_until_it_opens(env, deliver):
    await open_ticket(env)  # before the agreement: the request waits
    env.faults.fail(routes.SEND_MESSAGE, 503, times=50)  # Discord keeps failing the summary
    await deliver()
    (ticket,) = await tickets(env)
    assert ticket.state == "opening" and len(ticket_channels(env)) == 1  # the channel exists, its summary not
    opening = [e for e in await effects(env) if e.kind == "ticket.open"]
    assert [e.status for e in opening] == [EffectStatus.PENDING] and "503" in (opening[0].last_error or "")
    assert await dm_texts(env, env.freelancer) == []  # not told anything false
    shown = (await env.bot.runtime.reports.show("ord_1"))["discord_effects"]  # what `guarantor orders show` lists
    assert shown[0]["kind"] == "ticket.open" and shown[0]["status"] == "pending" and "503" in shown[0]["last_error"]

    env.faults.clear()
    await env.expire_holds()  # its retry is due
    await env.work_effects()
    (channel,) = ticket_channels(env)
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id) == ("open", channel.id)
    assert len(env.messages(channel)) == 1  # one summary, in the channel made the first time
    (dm,) = await dm_texts(env, env.freelancer)
    assert "ticket is open" in dm
    assert {e.status for e in await effects(env)} == {EffectStatus.DONE}


async def test_a_503_on_the_summary_edit_after_a_transition_is_retried_without_a_restart(ticket: TicketView):
    env = ticket.env
    env.faults.fail(routes.EDIT_MESSAGE, 503, times=50)
    done = await ticket.click_and_write("fund", env.officer, "REF-1")
    assert "held in escrow" in done.content
    assert ticket.summary_state() == "awaiting_funding"  # the edit failed: the summary is behind for now
    assert any("Payment received" in line for line in ticket.lines())  # the status line did not wait for it

    env.faults.clear()
    await env.expire_holds()
    await env.work_effects()
    assert ticket.summary_state() == "funded"
    assert "guarantee:deliver:ord_1" in ticket.buttons()


async def test_nothing_runs_until_discord_is_ready_and_everything_does_after(env, deliver):
    await open_ticket(env)
    env.bot._ready.clear()  # reconnecting: the guild cache is being filled again
    await deliver()
    assert ticket_channels(env) == [] and (await tickets(env))[0].state == "opening"
    assert all(e.attempts == 0 and e.last_error is None for e in await effects(env))  # not even tried

    env.bot._ready.set()
    await env.work_effects()
    (channel,) = ticket_channels(env)
    assert (await tickets(env))[0].state == "open"
    assert len(env.messages(channel)) == 1 and len(await dm_texts(env, env.freelancer)) == 1


async def store_agreement(runtime: Any) -> None:
    """The agreement of ord_1, stored as the webhook handler stores it (not processed yet)."""
    runtime.intake.start()
    await runtime.intake.store(IncomingEvent("msg_a", "order.agreed", "ord_1", dumps(agreed("ord_1"))))


async def test_a_process_without_a_bot_works_the_events_and_leaves_the_effects_to_the_bot(env, settings):
    await open_ticket(env)
    bot_less = Runtime(settings)  # e.g. a receiver on PostgreSQL that won an event's claim
    try:
        await store_agreement(bot_less)
        while await bot_less.processor.process_due():
            pass
        assert not bot_less.effects.ready
        assert await bot_less.effects.work() == 0  # it never touches Discord
    finally:
        await bot_less.close()
    (ticket,) = await tickets(env)
    assert ticket.state == "opening" and ticket_channels(env) == []

    await env.work_effects()  # the bot's worker
    (channel,) = ticket_channels(env)
    assert (await tickets(env))[0].state == "open" and len(env.messages(channel)) == 1
    assert len(await dm_texts(env, env.freelancer)) == 1
    (request,) = await requests(env)
    assert request.notified_at is not None


async def test_two_workers_at_once_do_each_effect_once(env):
    await open_ticket(env)
    env.faults.latency[routes.CREATE_CHANNEL] = 0.05  # both are in flight together
    runtime = env.bot.runtime
    second = EffectWorker(runtime.sessions, runtime.tickets.channels)
    second.attach(runtime.effects._discord)
    await store_agreement(runtime)
    while await runtime.processor.process_due():
        pass
    done = await asyncio.gather(runtime.effects.work(), second.work())
    assert sorted(done) == [0, 1]  # the one effect due (the channel) was taken by one worker
    await env.work_effects()
    (channel,) = ticket_channels(env)
    assert len(env.messages(channel)) == 1 and len(await dm_texts(env, env.freelancer)) == 1
    assert {e.status for e in await effects(env)} == {EffectStatus.DONE}


async def test_a_hanging_discord_call_holds_up_neither_events_nor_other_orders(env, monkeypatch):
    """The channel of ord_1 hangs on Discord (say, a long 429): events keep being processed, and the running
    effect worker opens ord_2's ticket meanwhile."""
    runtime = env.bot.runtime
    opener = runtime.tickets.channels.opener
    create = type(opener).create_channel
    release = asyncio.Event()

    async def hang_for_ord_1(self: Any, card: Any) -> Any:
        if card.order.id == "ord_1":
            await release.wait()
        return await create(self, card)

    monkeypatch.setattr(type(opener), "create_channel", hang_for_ord_1)
    monkeypatch.setattr(effects_module, "CLOSE_GRACE_SECONDS", 0.1)
    for order_id in ("ord_1", "ord_2"):  # requests that wait for their agreements
        await env.driver.command(
            "guarantee open", by=env.freelancer, channel=env.channel, email="seller@example.com",
            gig_link=f"https://opentaskai.com/gigs/{order_id}-logo",
        )  # fmt: skip
    runtime.effects.start()
    try:
        runtime.intake.start()
        for n, order_id in enumerate(("ord_1", "ord_2", "ord_3")):
            await runtime.intake.store(IncomingEvent(f"msg_{n}", "order.agreed", order_id, dumps(agreed(order_id))))
        assert await runtime.processor.process_due() == 3  # no event waits for Discord
        async with asyncio.timeout(10):
            while {t.order_id: t.state for t in await tickets(env)}.get("ord_2") != "open":  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # the worker runs in its own task: look again
        states = {t.order_id: t.state for t in await tickets(env)}
        assert states == {"ord_1": "opening", "ord_2": "open"}  # ord_1 still hangs, ord_2 did not wait for it
    finally:
        await runtime.effects.close()  # shutting down with ord_1's channel still in flight: its hold goes
    release.set()
    await env.work_effects()  # another worker (here: the next start) makes it
    assert {t.order_id: t.state for t in await tickets(env)} == {"ord_1": "open", "ord_2": "open"}
