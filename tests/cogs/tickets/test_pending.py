"""An open before the agreement event waits for it; restarts and webhook-only mode lose nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.db.models import Ticket, TicketRequest
from bot.db.types import utcnow
from tests.cogs.tickets.conftest import expire_holds, open_ticket, requests, ticket_channels, tickets, work_effects
from tests.harness import _faults as routes


async def dm_texts(env, member) -> list[str]:
    return [m["content"] for m in env.messages(await env.driver.dm_channel(member))]


async def test_open_before_the_event_opens_the_ticket_when_it_arrives(env, deliver):
    early = await open_ticket(env)
    assert early.ephemeral and "kept your request" in early.content
    (request,) = await requests(env)
    assert (request.state, request.user_id) == ("pending", env.freelancer.id)
    assert await tickets(env) == [] and ticket_channels(env) == []

    await deliver()
    (channel,) = ticket_channels(env)
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id, ticket.freelancer_id) == ("open", channel.id, env.freelancer.id)
    (dm,) = await dm_texts(env, env.freelancer)
    assert "ticket is open" in dm and f"https://discord.com/channels/{env.guild.id}/{channel.id}" in dm
    # it cannot pass for a scam: where it comes from, that it is automatic, that money is never asked for here
    assert env.guild.name in dm and "Automatic notice" in dm and "never ask for money in DMs" in dm
    (request,) = await requests(env)
    assert request.state == "fulfilled" and request.notified_at is not None


async def test_closed_dms_fall_back_to_a_mention_where_they_asked(env, deliver, sent):
    await open_ticket(env)
    env.close_dms(env.freelancer)
    await deliver()
    (channel,) = ticket_channels(env)
    (mention,) = [p for cid, p in sent if cid == env.channel.id]
    assert mention["content"].startswith(env.freelancer.mention) and f"<#{channel.id}>" in mention["content"]
    assert mention["allowed_mentions"] == {"parse": [], "users": [env.freelancer.id]}


async def test_a_waiting_request_with_the_wrong_email_is_rejected_when_the_order_arrives(env, deliver):
    await open_ticket(env, email="not-the-seller@example.com")
    await deliver()
    assert await tickets(env) == [] and ticket_channels(env) == []
    (dm,) = await dm_texts(env, env.freelancer)
    assert "Email check failed" in dm
    (request,) = await requests(env)
    assert request.state == "rejected"


async def test_an_expired_request_opens_nothing_and_its_requester_is_told(env, deliver):
    await open_ticket(env)
    async with env.bot.runtime.sessions.begin() as session:
        await session.execute(update(TicketRequest).values(expires_at=utcnow() - timedelta(minutes=1)))
    await deliver()
    await env.bot.runtime.processor.expire_requests()  # the sweep of the passes (maybe done by `deliver`'s already)
    await work_effects(env)
    assert await tickets(env) == []
    (dm,) = await dm_texts(env, env.freelancer)  # promised when the request was kept: the DM comes either way
    assert "expired" in dm and "opentaskai.com/gigs/ord_1-logo" in dm and "run `/guarantee open` again" in dm
    assert env.guild.name in dm and "never ask for money in DMs" in dm
    (request,) = await requests(env)
    assert request.state == "expired" and request.notified_at is not None


async def test_a_request_expiring_without_any_event_is_told_once(env):
    await open_ticket(env)
    processor = env.bot.runtime.processor
    assert await processor.expire_requests() == 0  # still waiting
    async with env.bot.runtime.sessions.begin() as session:
        await session.execute(update(TicketRequest).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert await processor.expire_requests() == 1  # the processor's passes run this once a minute
    assert await processor.expire_requests() == 0  # expired once, so told once
    await work_effects(env)
    (dm,) = await dm_texts(env, env.freelancer)
    assert "expired" in dm
    assert [r.state for r in await requests(env)] == ["expired"]


async def test_webhook_only_mode_leaves_work_the_bot_finishes_when_it_connects(env, deliver):
    await open_ticket(env)
    env.bot.runtime.tickets.attach(None)  # no bot connected: the event is stored and applied only
    env.bot.runtime.effects.attach(None)
    await deliver()
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id) == ("opening", None) and ticket_channels(env) == []

    bot = await env.restart()
    await bot.runtime.processor.close()
    await bot.runtime.effects.close()
    bot.dispatch("ready")
    await work_effects(env)
    (channel,) = ticket_channels(env)
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id) == ("open", channel.id)
    assert any("ticket is open" in text for text in await dm_texts(env, env.freelancer))


async def test_a_restart_after_the_channel_was_made_reuses_it(env, deliver):
    await deliver()
    env.faults.fail(routes.SEND_MESSAGE, 500, times=5)  # the summary never gets posted: a crash, in effect
    failed = await open_ticket(env)
    # Not an error: Discord failed for now; the ticket is still being opened, and the freelancer will hear.
    assert failed.ephemeral and "being opened" in failed.content and "DM" in failed.content
    (ticket,) = await tickets(env)
    assert ticket.state == "opening" and len(ticket_channels(env)) == 1

    bot = await env.restart()
    await bot.runtime.processor.close()
    await bot.runtime.effects.close()
    bot.dispatch("ready")
    await expire_holds(env)
    await work_effects(env)
    (channel,) = ticket_channels(env)
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id) == ("open", channel.id)
    assert len(env.messages(channel)) == 1  # the channel made before the restart, with one summary
    assert any("ticket is open" in text for text in await dm_texts(env, env.freelancer))


async def test_an_open_finds_a_ticket_left_opening_and_finishes_it(env, deliver):
    await deliver()
    async with env.bot.runtime.sessions.begin() as session:
        session.add(Ticket(order_id="ord_1", guild_id=env.guild.id, freelancer_id=env.freelancer.id))
    result = await open_ticket(env)
    assert "is open" in result.content and len(ticket_channels(env)) == 1
