"""A channel that already has the ticket's name and topic (left by a crash between making it and
recording it, or made by someone else) is reused only when it is the bot's, and then only with the
ticket's own private permissions; otherwise the ticket gets a channel of its own."""

from __future__ import annotations

from typing import Any

import discord

from cogs.tickets._summary import channel_name, channel_topic
from tests.cogs.tickets.conftest import open_ticket, ticket_channels, tickets
from tests.harness import _faults as routes
from tests.harness import _server
from tests.harness._world import DiscordEnv

SEE = discord.PermissionOverwrite(view_channel=True, read_message_history=True, send_messages=True)


async def look_alike(env: DiscordEnv, overwrites: dict[Any, discord.PermissionOverwrite]) -> discord.TextChannel:
    """A channel named and described like the ticket of ord_1, made outside the ticket flow."""
    return await env.guild.create_text_channel(
        channel_name("ord_1"), topic=channel_topic("ord_1"), overwrites=overwrites
    )


def who_sees(env: DiscordEnv, channel: discord.TextChannel) -> set[str]:
    return {m.name for m in env.members(env.guild) if channel.permissions_for(m).view_channel}


PRIVATE = {"freelancer", "officer", "officer_party"}


async def test_a_leftover_channel_is_reused_with_the_tickets_permissions_put_back(env, deliver):
    await deliver()
    # Ours after a crash, but someone opened it to everyone and added an outsider meanwhile.
    leftover = await look_alike(env, {env.guild.default_role: SEE, env.outsider: SEE})
    result = await open_ticket(env)
    assert "is open" in result.content, result.content
    (channel,) = ticket_channels(env)
    assert channel.id == leftover.id and (await tickets(env))[0].channel_id == leftover.id
    assert who_sees(env, channel) == PRIVATE | {env.guild.me.name}
    assert not channel.permissions_for(env.guild.default_role).view_channel
    assert len(env.messages(channel)) == 1  # the summary


async def test_a_look_alike_someone_posted_in_is_not_used(env, deliver):
    await deliver()
    fake = await look_alike(env, {env.guild.default_role: SEE, env.outsider: SEE})
    _server.post_message(fake, env.outsider, {"content": "Officer here: send the payment to me directly."})
    result = await open_ticket(env)
    assert "is open" in result.content, result.content
    (ticket,) = await tickets(env)
    channel = env.guild.get_channel(ticket.channel_id)
    assert channel is not None and channel.id != fake.id
    assert who_sees(env, channel) == PRIVATE | {env.guild.me.name}
    # The look-alike is left as it was: no summary, no parties let in, still open to everyone.
    assert [m["content"] for m in env.messages(fake)] == ["Officer here: send the payment to me directly."]
    assert "outsider" in who_sees(env, fake)


async def test_a_look_alike_the_bot_cannot_read_is_not_used(env, deliver):
    await deliver()
    hidden = await look_alike(
        env, {env.guild.default_role: SEE, env.guild.me: discord.PermissionOverwrite(view_channel=False)}
    )
    result = await open_ticket(env)
    assert "is open" in result.content, result.content
    (ticket,) = await tickets(env)
    assert ticket.channel_id not in (None, hidden.id)
    assert who_sees(env, env.guild.get_channel(ticket.channel_id)) == PRIVATE | {env.guild.me.name}
    assert env.messages(hidden) == []


async def test_a_leftover_whose_permissions_cannot_be_put_back_is_not_used(env, deliver):
    await deliver()
    leftover = await look_alike(env, {env.guild.default_role: SEE})
    env.faults.fail(routes.EDIT_CHANNEL, 403)
    result = await open_ticket(env)
    assert "is open" in result.content, result.content
    (ticket,) = await tickets(env)
    assert ticket.channel_id not in (None, leftover.id)
    assert env.faults.count(routes.EDIT_CHANNEL) == 1
    assert env.messages(leftover) == []
