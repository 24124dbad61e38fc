"""`/guarantee status` for officers: only orders ticketed in the server where they are officers."""

from __future__ import annotations

from tests.cogs.tickets.conftest import open_ticket

REFUSAL = "no order 'ord_1' that you are part of"


async def test_an_officer_of_another_server_cannot_see_an_order_ticketed_here(env, deliver):
    await deliver()
    await open_ticket(env)
    result = await env.driver.command("guarantee status", by=env.stranger, channel=env.other_channel, order_id="ord_1")
    assert result.ephemeral and not result.embeds and REFUSAL in result.content


async def test_an_officer_cannot_see_an_order_that_has_no_ticket(env, deliver):
    await deliver()
    result = await env.driver.command("guarantee status", by=env.officer, channel=env.channel, order_id="ord_1")
    assert result.ephemeral and not result.embeds and REFUSAL in result.content


async def test_an_officer_of_the_ticket_server_still_sees_the_order(env, deliver):
    await deliver()
    await open_ticket(env)
    result = await env.driver.command("guarantee status", by=env.officer, channel=env.channel, order_id="ord_1")
    assert result.ephemeral and result.embeds[0].title == "Order ord_1"
