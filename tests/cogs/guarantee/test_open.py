"""`/guarantee open`: verified, private, one per order, pinging the officer role only."""

from __future__ import annotations

from tests.cogs.guarantee.conftest import gig, open_ticket, ticket_channels, tickets


async def test_agreed_order_then_open_makes_one_private_channel(env, deliver):
    await deliver()
    result = await open_ticket(env)
    assert result.ephemeral and result.deferred
    (channel,) = ticket_channels(env)
    assert "is open" in result.content and f"<#{channel.id}>" in result.content
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id, ticket.freelancer_id) == ("open", channel.id, env.freelancer.id)
