"""Reopening a ticket whose channel was deleted by hand, through Discord."""

from __future__ import annotations

from tests.cogs.tickets.conftest import open_ticket, ticket_channels, tickets


async def test_another_member_with_the_seller_email_cannot_reopen_someone_elses_ticket(env, deliver):
    await deliver()
    await open_ticket(env)
    (old,) = ticket_channels(env)
    await env.delete_channel_by_hand(old)
    (before,) = await tickets(env)
    result = await open_ticket(env, by=env.outsider)
    assert result.ephemeral and "ask a Guarantor Officer of that server" in result.content
    assert ticket_channels(env) == []
    (after,) = await tickets(env)
    assert (after.state, after.freelancer_id, after.guild_id) == ("orphaned", env.freelancer.id, env.guild.id)
    assert after.origin_channel_id == before.origin_channel_id
