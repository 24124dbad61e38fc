"""The ticket's summary is always true: the safety notice first and pinned, then who acts next and how,
rebuilt whole on every change and join, and the same as `/guarantee status` after every step."""

from __future__ import annotations

import discord

from tests.cogs.tickets.conftest import open_ticket, ticket_channels
from tests.harness import _faults as routes
from tests.harness._tickets import TicketView


async def status_embed(env, by) -> discord.Embed:
    result = await env.driver.command("guarantee status", by=by, channel=env.channel, order_id="ord_1")
    return result.embeds[0]


def same_as_status(ticket: TicketView, status: discord.Embed) -> None:
    """Everything the summary shows, `/guarantee status` shows alike (status adds where the ticket is and history)."""
    summary = discord.Embed.from_dict(ticket.summary["embeds"][0])
    assert status.description == summary.description
    shown = {f.name: f.value for f in status.fields}
    for field in summary.fields:
        assert shown.get(field.name) == field.value, field.name


async def test_the_safety_notice_comes_first_and_the_summary_is_pinned(env, deliver) -> None:
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    summary = env.messages(channel)[0]
    assert summary["content"].splitlines()[0].startswith("🛡️ **Safety:**")
    assert "never DM you first" in summary["content"] and "/guarantee officer" in summary["content"]
    assert summary["pinned"] is True
    assert [m.id async for m in channel.pins()] == [int(summary["id"])]


async def test_a_bot_that_may_not_pin_still_opens_the_ticket(env, deliver) -> None:
    await deliver()
    env.faults.fail(routes.PIN_MESSAGE, 403)
    result = await open_ticket(env)
    assert "is open" in result.content
    (channel,) = ticket_channels(env)
    assert not env.messages(channel)[0].get("pinned") and "Safety" in env.messages(channel)[0]["content"]


async def test_the_next_block_says_who_acts_and_how_at_every_step(ticket: TicketView) -> None:
    env = ticket.env
    assert "payment instructions" in ticket.next_step() and "Confirm payment received" in ticket.next_step()
    assert "nobody has claimed this ticket yet" in ticket.next_step()
    await ticket.click("claim", env.officer)
    assert env.officer.mention in ticket.next_step() and "nobody has claimed" not in ticket.next_step()
    await ticket.click_and_write("fund", env.officer, "REF-1")
    block = ticket.next_step()
    assert block.startswith(f"**Next:** {env.freelancer.mention}") and "Mark delivered" in block
    await ticket.click("deliver", env.freelancer)
    assert ticket.next_step().startswith(f"**Next:** {env.buyer.mention}") and "Approve the work" in ticket.next_step()
    await ticket.click("approve", env.buyer)
    assert env.officer.mention in ticket.next_step() and "Release payment" in ticket.next_step()
    await ticket.click_and_confirm("release", env.officer)
    assert ticket.next_step().startswith("**Done:**") and "120.50 USD was released to" in ticket.next_step()
    assert "closes the ticket with **Close ticket**" in ticket.next_step()


async def test_before_the_buyer_joins_it_says_how_they_join(env, deliver) -> None:
    await deliver()
    await open_ticket(env)
    ticket = await env.ticket()
    block = ticket.next_step()
    assert "the buyer (Bo Buyer) runs `/guarantee join order_id:ord_1`" in block
    assert env.freelancer.mention in block and "payment instructions" in block
    assert ticket.field("Buyer").startswith("not joined yet")


async def test_the_summary_matches_status_after_every_step(ticket: TicketView) -> None:
    env = ticket.env
    steps = [
        lambda: ticket.click("claim", env.officer),
        lambda: ticket.click_and_write("fund", env.officer, "REF-1"),
        lambda: ticket.click_and_write("dispute", env.buyer, "late"),
        lambda: ticket.click_and_write("release", env.officer, "delivered after all"),
    ]
    same_as_status(ticket, await status_embed(env, env.buyer))
    for step in steps:
        await step()
        same_as_status(ticket, await status_embed(env, env.freelancer))
        same_as_status(ticket, await status_embed(env, env.officer))
    assert ticket.summary_state() == "released"
    assert "not joined yet" not in str(ticket.summary)  # rebuilt whole: nothing stale is left


async def test_the_summary_matches_status_before_the_buyer_joins_and_after(env, deliver) -> None:
    await deliver()
    await open_ticket(env)
    ticket = await env.ticket()
    same_as_status(ticket, await status_embed(env, env.freelancer))
    await env.driver.command(
        "guarantee join", by=env.buyer, channel=env.channel, order_id="ord_1", email="buyer@example.com"
    )
    same_as_status(ticket, await status_embed(env, env.buyer))
