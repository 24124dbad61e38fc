"""The harness's order and ticket helpers: signed events worked before `deliver` returns, tickets found
by their database row, the escrow state read exactly."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Order
from tests.harness._tickets import shown_escrow_state


async def orders(env) -> list[str]:
    async with env.bot.runtime.sessions() as session:
        return list((await session.scalars(select(Order.id).order_by(Order.id))).all())


async def test_an_agreed_order_is_stored_when_agree_order_returns_also_after_a_restart(discord_env):
    env = discord_env
    data = await env.agree_order()
    assert (data["order_id"], data["gig_url"]) == ("ord_1", "https://opentaskai.com/gigs/ord_1-logo")
    assert (data["seller"]["email"], data["buyer"]["email"]) == ("seller@example.com", "buyer@example.com")
    await env.restart()  # a new runtime: a new webhook app to post to
    await env.agree_order("ord_2")
    assert await orders(env) == ["ord_1", "ord_2"]


async def test_a_ticket_opens_with_the_terms_the_order_was_agreed_on(discord_env):
    env = discord_env
    await env.agree_order("ord_9", buyer={"email": "other-buyer@example.com"})
    with pytest.raises(LookupError, match="no ticket channel"):
        await env.ticket("ord_9")
    ticket = await env.open_ticket_and_join("ord_9", freelancer=env.add_member("seller9", "0909"))
    assert (ticket.order_id, ticket.channel.name) == ("ord_9", "guarantee-ord_9")
    assert ticket.channel.permissions_for(env.buyer).view_channel
    assert ticket.buttons() == ["guarantee:fund:ord_9", "guarantee:cancel:ord_9", "guarantee:claim:ord_9"]


async def test_the_escrow_state_is_read_exactly_not_by_substring(ticket):
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "PAY-1")
    await ticket.click_and_write("refund", env.officer, "the buyer changed their mind")
    assert ticket.summary_state() == "refunded" != "funded"
    assert await ticket.escrow_state() == "refunded"
    summary = {"fields": [{"name": "Escrow", "value": "Work delivered · buyer approved the work"}]}
    assert shown_escrow_state(summary) == "delivered"
    assert shown_escrow_state({"fields": [{"name": "Escrow", "value": "Waiting for payment"}]}) == "awaiting_funding"
    assert shown_escrow_state({"fields": [{"name": "Escrow", "value": "Payment held in escrow"}]}) == "funded"
