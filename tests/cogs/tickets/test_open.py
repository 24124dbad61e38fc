"""`/guarantee open`: verified, private, one per order, pinging the officer role only."""

from __future__ import annotations

import asyncio
import json

import discord
import pytest

from bot.db.models import GuildConfig
from tests.cogs.tickets.conftest import GOOD_EMAIL, gig, open_ticket, requests, ticket_channels, tickets
from tests.harness import _faults as routes
from tests.harness._driver import CommandUnavailable
from tests.webhooks.events import agreed, event


async def test_agreed_order_then_open_makes_one_private_channel(env, deliver, sent):
    await deliver()
    result = await open_ticket(env)
    assert result.ephemeral and result.deferred
    (channel,) = ticket_channels(env)
    assert channel.name == "guarantee-ord_1" and channel.category.name == "Guarantee tickets"
    assert "is open" in result.content and f"<#{channel.id}>" in result.content
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id, ticket.freelancer_id) == ("open", channel.id, env.freelancer.id)
    assert ticket.summary_message_id == env.messages(channel)[0]["id"]
    assert ticket_channels(env, env.other_guild) == []


async def test_only_the_parties_officers_and_bot_can_see_the_channel(env, deliver):
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    visible = {m.name for m in env.members(env.guild) if channel.permissions_for(m).view_channel}
    assert visible == {"freelancer", "officer", "officer_party", env.guild.me.name}
    assert not channel.permissions_for(env.guild.default_role).view_channel  # type: ignore[arg-type]
    assert env.stranger not in env.members(channel.guild)


async def test_first_message_pings_exactly_the_officer_role_and_masks_emails(env, deliver, sent):
    await deliver(deliverables="@everyone look <@&1> seller@example.com")
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    (payload,) = [p for cid, p in sent if cid == channel.id]
    assert payload["allowed_mentions"] == {"parse": [], "roles": [env.officer_role.id]}
    # the safety notice comes first, then the ping of the officer role
    safety, ping = payload["content"].splitlines()
    assert "Officers never DM you first" in safety and "/guarantee officer" in safety
    assert ping.startswith(env.officer_role.mention) and "Guarantor Officer is needed" in ping
    text = json.dumps(env.messages(channel), default=str)
    assert "seller@example.com" not in text and "buyer@example.com" not in text
    assert "s***@e***.com" in text and "b***@e***.com" in text
    embed = discord.Embed.from_dict(env.messages(channel)[0]["embeds"][0])
    fields = {f.name: f.value for f in embed.fields}
    assert "Gig link matches" in fields["Checks"] and fields["Amount"] == "120.50 USD"


async def test_opening_twice_points_to_the_same_channel(env, deliver):
    await deliver()
    await open_ticket(env)
    again = await open_ticket(env)
    (channel,) = ticket_channels(env)
    assert again.ephemeral and "already has a ticket" in again.content and f"<#{channel.id}>" in again.content
    assert len(await tickets(env)) == 1


async def test_two_racing_opens_make_one_channel(env, deliver):
    await deliver()
    env.faults.latency[routes.CREATE_CHANNEL] = 0.05
    first = await open_ticket_nowait(env)
    second = await open_ticket_nowait(env)
    await asyncio.gather(first.wait(), second.wait())
    await env.driver.settle()
    assert len(ticket_channels(env)) == 1 and len(await tickets(env)) == 1
    assert env.faults.count(routes.CREATE_CHANNEL) == 2  # the category, then the one ticket channel
    assert all(r.ephemeral for r in (first, second))


async def open_ticket_nowait(env):
    return await env.driver.command(
        "guarantee open", by=env.freelancer, channel=env.channel, email=GOOD_EMAIL, gig_link=gig(), wait=False
    )


async def assert_refused(env, result, *phrases):
    assert result.ephemeral
    for phrase in phrases:
        assert phrase.lower() in result.content.lower(), result.content
    assert await tickets(env) == [] and ticket_channels(env) == []


async def test_a_wrong_email_gets_the_same_answer_as_an_order_not_there_yet(env, deliver):
    # Whether an email belongs to an agreed order is not told (review item 3): a wrong email, a gig with no
    # order yet, and another gig of the same seller all get one answer, word for word.
    not_yet = await open_ticket(env, link=gig("ord_9"))
    await deliver()
    wrong_email = await open_ticket(env, email="someone@else.com")
    await assert_refused(env, wrong_email, "could not open a ticket for this email and gig link")
    assert wrong_email.content == not_yet.content
    assert [r.gig_key for r in await requests(env)] == ["opentaskai.com/gigs/ord_9-logo"]  # only the unknown gig waits


async def test_email_is_trimmed_and_case_insensitive_and_link_normalised(env, deliver):
    await deliver()
    result = await open_ticket(
        env, email="  SELLER@Example.COM ", link="http://WWW.opentaskai.com/gigs/ord_1-logo/?ref=x#top"
    )
    assert "is open" in result.content


async def test_another_gig_of_the_seller_waits_like_an_unknown_one(env, deliver):
    await deliver()
    result = await open_ticket(env, link="https://opentaskai.com/gigs/something-else")
    await assert_refused(env, result, "kept your request")
    assert result.content == (await open_ticket(env, email="nobody@example.com", link=gig("ord_8"))).content


async def test_link_to_another_host_is_refused(env, deliver):
    await deliver()
    result = await open_ticket(env, link="https://evil.example/gigs/ord_1-logo")
    await assert_refused(env, result, "gig link check failed", "evil.example", "opentaskai.com")


async def test_malformed_link_is_refused(env, deliver):
    await deliver()
    result = await open_ticket(env, link="ht!tp://not a link")
    await assert_refused(env, result, "not a valid link")


async def test_the_command_is_not_offered_in_a_dm(env, deliver):
    # The group is guild-only: Discord does not show it in DMs at all (it used to show it, then refuse).
    await deliver()
    with pytest.raises(CommandUnavailable, match="cannot be used in DMs"):
        await env.driver.command("guarantee open", by=env.freelancer, email=GOOD_EMAIL, gig_link=gig())
    assert await tickets(env) == [] and ticket_channels(env) == []


async def test_a_dm_that_reaches_the_bot_anyway_is_refused_with_where_to_go(env, deliver):
    # An old client may still send one: the cog's own check answers it.
    await deliver()
    group = env.bot.tree.get_command("guarantee")
    contexts = group.allowed_contexts
    group.guild_only, group.allowed_contexts = False, None  # as an out-of-date command list on the client has it
    try:
        result = await env.driver.command("guarantee open", by=env.freelancer, email=GOOD_EMAIL, gig_link=gig())
    finally:
        group.guild_only, group.allowed_contexts = True, contexts
    await assert_refused(env, result, "only in a server", "Run it in the marketplace's server")


async def test_a_rate_limit_while_creating_the_channel_is_waited_out(env, deliver):
    await deliver()
    env.faults.fail(routes.CREATE_CHANNEL, 429, times=2, retry_after=0.01)
    result = await open_ticket(env)
    assert "is open" in result.content and len(ticket_channels(env)) == 1
    assert env.faults.count(routes.CREATE_CHANNEL) == 4  # two 429s, then the category and the channel


async def test_missing_permissions_name_what_to_grant_and_leave_nothing(env, deliver):
    await deliver()
    env.faults.fail(routes.CREATE_CHANNEL, 403)
    result = await open_ticket(env)
    await assert_refused(env, result, "Manage Channels", "Manage Roles", "grant")
    assert "is open" in (await open_ticket(env)).content  # once granted, the same open works


async def test_bot_role_without_manage_channels_is_told_before_trying(env, deliver):
    await deliver()
    bot_role = next(r for r in env.guild.me.roles if r.name == "Guarantor")
    bot_role._permissions = discord.Permissions(view_channel=True, send_messages=True).value
    result = await open_ticket(env)
    await assert_refused(env, result, "Manage Channels", "Manage Roles")
    assert env.faults.count(routes.CREATE_CHANNEL) == 0


async def test_missing_officer_role_tells_what_to_set_up(env, deliver):
    await deliver()
    async with env.bot.runtime.sessions.begin() as session:
        session.add(GuildConfig(guild_id=env.guild.id, officer_role_id=424242))
    result = await open_ticket(env)
    await assert_refused(env, result, "no officer role", "/guarantee setup")


async def test_a_channel_deleted_by_hand_can_be_opened_again(env, deliver):
    await deliver()
    await open_ticket(env)
    (old,) = ticket_channels(env)
    await env.delete_channel_by_hand(old)
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id) == ("orphaned", None)
    result = await open_ticket(env)
    (new,) = ticket_channels(env)
    assert new.id != old.id and "is open" in result.content
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id) == ("open", new.id)


async def test_a_full_category_overflows_into_a_new_one(env, deliver):
    base = await env.guild.create_category("Tickets")
    for n in range(50):
        await env.guild.create_text_channel(f"filler-{n}", category=base)
    async with env.bot.runtime.sessions.begin() as session:
        session.add(GuildConfig(guild_id=env.guild.id, officer_role_id=env.officer_role.id, category_id=base.id))
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    assert channel.category.name == "Tickets 2" and len(base.channels) == 50


async def test_a_cancelled_order_gets_no_ticket_and_pings_nobody(env, deliver, sent):
    await deliver()
    await deliver(event("order.cancelled", {"order_id": "ord_1", "reason": "changed plans"}))
    result = await open_ticket(env)
    assert result.ephemeral and "was cancelled on the marketplace" in result.content
    assert await tickets(env) == [] and ticket_channels(env) == []
    assert [
        payload for _, payload in sent if "allowed_mentions" in payload and payload["allowed_mentions"].get("roles")
    ] == []


async def test_a_cancelled_newer_order_of_the_same_gig_does_not_get_one_either(env, deliver):
    # The gig's first order has its ticket; its second was cancelled: an open points at the first one.
    await deliver()
    await open_ticket(env)
    await deliver(agreed("ord_2", gig_url=gig("ord_1"), agreed_at="2026-11-26T09:00:00+00:00"))
    await deliver(event("order.cancelled", {"order_id": "ord_2"}))
    result = await open_ticket(env)
    assert "already has a ticket" in result.content and "ord_1" in result.content
    assert [t.order_id for t in await tickets(env)] == ["ord_1"]
