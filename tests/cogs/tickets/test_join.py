"""`/guarantee join`: the verified buyer is added to the order's ticket, nobody else."""

from __future__ import annotations

import pytest

from tests.cogs.tickets.conftest import open_ticket, ticket_channels, tickets
from tests.harness import _faults as routes
from tests.harness._driver import CommandUnavailable


async def join(env, *, by=None, order_id="ord_1", email="buyer@example.com", channel=None):
    return await env.driver.command(
        "guarantee join", by=by or env.buyer, channel=channel or env.channel, order_id=order_id, email=email
    )


async def test_the_buyer_joins_with_the_order_email(env, deliver):
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    assert not channel.permissions_for(env.buyer).view_channel
    result = await join(env, email=" Buyer@Example.com ")
    assert result.ephemeral and "joined the ticket of order ord_1" in result.content
    assert "payment instructions" in result.content  # and what happens next
    assert channel.permissions_for(env.buyer).view_channel
    assert not channel.permissions_for(env.outsider).view_channel
    (ticket,) = await tickets(env)
    assert ticket.buyer_id == env.buyer.id
    joined = env.messages(channel)[-1]["content"]
    assert joined.startswith(f"<@{env.buyer.id}> joined as the buyer") and "email matches" in joined
    assert "not proven" in joined and "verified" not in joined  # a match proves nothing more than that


async def test_wrong_buyer_email_adds_nobody(env, deliver):
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    result = await join(env, by=env.outsider, email="seller@example.com")
    assert result.ephemeral and "Email check failed" in result.content and "buyer email" in result.content
    assert not channel.permissions_for(env.outsider).view_channel
    assert (await tickets(env))[0].buyer_id is None


async def test_an_unknown_order_and_a_wrong_email_get_the_same_answer(env, deliver):
    # Whether an order id exists is not told (review item 3).
    await deliver()
    await open_ticket(env)
    unknown = await join(env, order_id="nope")
    wrong = await join(env, by=env.outsider, email="seller@example.com")
    assert unknown.ephemeral and "Email check failed" in unknown.content and "nope" not in unknown.content
    assert wrong.content == unknown.content


async def test_join_before_the_ticket_is_opened_says_what_to_wait_for(env, deliver):
    await deliver()
    result = await join(env)
    assert result.ephemeral and "no open ticket yet" in result.content and "/guarantee open" in result.content
    assert await tickets(env) == []


async def test_the_freelancer_cannot_join_as_the_buyer(env, deliver):
    await deliver(buyer={"email": "seller@example.com"})
    await open_ticket(env)
    result = await join(env, by=env.freelancer, email="seller@example.com")
    assert result.ephemeral and "buyer must join with their own account" in result.content


async def test_a_second_account_cannot_take_the_buyer_seat(env, deliver):
    await deliver()
    await open_ticket(env)
    await join(env)
    result = await join(env, by=env.outsider)
    assert result.ephemeral and "Another account already joined" in result.content
    assert not ticket_channels(env)[0].permissions_for(env.outsider).view_channel


async def test_join_is_not_offered_in_a_dm(env, deliver):
    # The group is guild-only: Discord does not show it in DMs at all (it used to show it, then refuse).
    await deliver()
    with pytest.raises(CommandUnavailable, match="cannot be used in DMs"):
        await env.driver.command("guarantee join", by=env.buyer, order_id="ord_1", email="buyer@example.com")


async def test_join_after_the_channel_was_deleted_marks_the_ticket_for_reopening(env, deliver):
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    cog = env.bot.get_cog("GuaranteeCog")  # the bot misses the delete event: it learns from the 404
    env.bot.remove_listener(cog.on_guild_channel_delete, "on_guild_channel_delete")
    await env.delete_channel_by_hand(channel)
    result = await join(env)
    assert result.ephemeral and "was deleted" in result.content
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.buyer_id) == ("orphaned", None)


async def test_a_buyer_the_member_lookup_does_not_find_leaves_the_ticket_open(env, deliver):
    # With the default intents the bot has no member cache: it looks the buyer up by REST. A buyer
    # who left the server meanwhile is Unknown Member (10007), which says nothing about the channel.
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    env.faults.fail(routes.GET_MEMBER, 404, code=10007, message="Unknown Member")
    result = await join(env)
    assert result.ephemeral and "not a member of this server" in result.content
    (ticket,) = await tickets(env)
    assert (ticket.state, ticket.channel_id, ticket.buyer_id) == ("open", channel.id, None)
    assert not channel.permissions_for(env.buyer).view_channel
    again = await join(env)
    assert "joined the ticket of order ord_1" in again.content


async def test_joining_again_says_you_are_in_already_and_posts_nothing(env, deliver):
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    await join(env)
    posted = len(env.messages(channel))
    again = await join(env)
    assert (
        again.ephemeral
        and "already in the ticket of order ord_1" in again.content
        and f"<#{channel.id}>" in again.content
    )
    assert len(env.messages(channel)) == posted  # no second "joined as the buyer"
    assert channel.permissions_for(env.buyer).view_channel
