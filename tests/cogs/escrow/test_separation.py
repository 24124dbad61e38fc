"""Through the buttons and `/guarantee join`: an officer who is the order's buyer can neither
confirm its funding before joining nor join as its buyer after acting on it as an officer."""

from __future__ import annotations

from typing import Any

from tests.cogs.tickets.conftest import open_ticket, tickets
from tests.harness._tickets import TicketView
from tests.harness._world import DiscordEnv


async def unjoined_ticket(env: DiscordEnv, deliver: Any) -> TicketView:
    await deliver()
    await open_ticket(env)
    return await env.ticket("ord_1")


async def join(env: DiscordEnv, by: Any) -> Any:
    return await env.driver.command(
        "guarantee join", by=by, channel=env.channel, order_id="ord_1", email="buyer@example.com"
    )


async def test_no_officer_confirms_funding_before_the_buyer_joined(env, deliver) -> None:
    ticket = await unjoined_ticket(env, deliver)
    # officer_party is about to join as the buyer; nothing could tell yet, so no officer may fund.
    for officer in (env.officer_party, env.officer):
        result = await ticket.click("fund", officer)
        assert result.ephemeral and result.modal is None and "has not joined" in result.content, result.content
    assert (await ticket.escrow()).state == "awaiting_funding" and await ticket.audit() == []

    assert "joined" in (await join(env, env.officer_party)).content
    refused = await ticket.click("fund", env.officer_party)
    assert refused.modal is None and "party to order ord_1" in refused.content
    done = await ticket.click_and_write("fund", env.officer, "PAY-1")
    assert "held in escrow" in done.content, done.content


async def test_an_officer_who_claimed_the_ticket_cannot_join_it_as_the_buyer(env, deliver) -> None:
    ticket = await unjoined_ticket(env, deliver)
    claimed = await ticket.click("claim", env.officer_party)
    assert "You claimed order ord_1" in claimed.content
    refused = await join(env, env.officer_party)
    assert refused.ephemeral and "acted as a Guarantor Officer on order ord_1" in refused.content, refused.content
    assert (await tickets(env))[0].buyer_id is None
    assert "joined as the buyer" not in " ".join(ticket.lines())
    assert "joined" in (await join(env, env.buyer)).content  # the buyer's own account still joins
