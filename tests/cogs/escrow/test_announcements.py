"""Everyone affected hears of every money event, by a DM that cannot pass for a scam; the officer's "your
turn" comes once, when it is really theirs; the officer role is pinged for disputes and when nobody holds the
ticket."""

from __future__ import annotations

import pytest

from bot.services.effects import EffectWorker
from bot.services.escrow.rules import Action, Role
from tests.harness._tickets import TicketView
from tests.webhooks.events import event


def dms_to(sent, member) -> list[str]:
    channel = member.dm_channel
    return [p.get("content", "") for cid, p in sent if channel is not None and cid == channel.id]


def pings(sent, ticket: TicketView) -> list[str]:
    """The ticket's lines that ping the officer role."""
    role = ticket.env.officer_role
    return [
        p["content"]
        for cid, p in sent
        if cid == ticket.channel.id and role.id in [int(r) for r in (p.get("allowed_mentions") or {}).get("roles", [])]
    ]


async def funded(ticket: TicketView) -> None:
    await ticket.click_and_write("fund", ticket.env.officer, "REF-1")


async def test_a_dm_says_where_it_comes_from_that_it_is_automatic_and_links_the_ticket(ticket, sent) -> None:
    env = ticket.env
    await funded(ticket)
    (dm,) = dms_to(sent, env.buyer)
    assert env.guild.name in dm and "Automatic notice" in dm and "never ask for money in DMs" in dm
    assert f"https://discord.com/channels/{env.guild.id}/{ticket.channel.id}" in dm
    assert "120.50 USD" in dm and "held in escrow" in dm


@pytest.mark.parametrize("outcome", ["release", "refund"])
async def test_a_release_or_refund_reaches_both_parties(ticket: TicketView, sent, outcome) -> None:
    env = ticket.env
    await funded(ticket)
    await ticket.click_and_write("dispute", env.buyer, "the files are empty")
    await ticket.click_and_write(outcome, env.officer, "decided on the evidence")
    words = "released to the freelancer" if outcome == "release" else "refunded to the buyer"
    for party in (env.freelancer, env.buyer):
        assert sum(words in dm for dm in dms_to(sent, party)) == 1, party


async def test_a_dispute_reaches_both_parties_and_pings_the_officers_even_when_claimed(ticket, sent) -> None:
    env = ticket.env
    await ticket.click("claim", env.officer)
    await funded(ticket)
    await ticket.click_and_write("dispute", env.freelancer, "the buyer stopped answering")
    for party in (env.freelancer, env.buyer):
        assert any("opened a dispute" in dm for dm in dms_to(sent, party)), party
    (ping,) = [line for line in pings(sent, ticket) if "opened a dispute" in line]
    assert ping.startswith(env.officer_role.mention)
    officer = dms_to(sent, env.officer)  # the officer holding it: the news and their turn, in one DM
    assert any("opened a dispute" in dm and "Your turn" in dm for dm in officer)


async def test_a_dispute_on_an_unclaimed_ticket_still_reaches_the_officers(ticket, sent) -> None:
    env = ticket.env
    await funded(ticket)
    await ticket.click_and_write("dispute", env.buyer, "nothing arrived")
    assert any("opened a dispute" in line for line in pings(sent, ticket))


async def test_a_cancellation_reaches_both_parties_and_the_marketplaces_pings_the_officers(ticket, deliver, sent):
    env = ticket.env
    await ticket.click_and_confirm("cancel", env.officer)
    for party in (env.freelancer, env.buyer):
        assert any("cancelled" in dm for dm in dms_to(sent, party)), party
    assert pings(sent, ticket) == []  # an officer did it: nobody to alert

    await env.agree_order("ord_2")
    second = await env.open_ticket_and_join("ord_2")
    await deliver(event("order.cancelled", {"order_id": "ord_2", "reason": "buyer left"}))
    assert any("cancelled by the marketplace" in line for line in pings(sent, second))


async def test_the_officers_turn_to_release_comes_once_and_only_after_the_buyer_approved(ticket, sent) -> None:
    env = ticket.env
    await ticket.click("claim", env.officer)
    await funded(ticket)
    await ticket.click("deliver", env.freelancer)
    assert not any("Your turn" in dm for dm in dms_to(sent, env.officer))  # delivered is the buyer's turn
    assert any("Your turn" in dm and "Approve the work" in dm for dm in dms_to(sent, env.buyer))
    await ticket.click("approve", env.buyer)
    turns = [dm for dm in dms_to(sent, env.officer) if "Your turn" in dm]
    assert len(turns) == 1 and "Release payment" in turns[0]
    assert any("approved the work" in dm for dm in dms_to(sent, env.freelancer))  # and the freelancer knows


async def test_with_nobody_holding_the_ticket_the_officer_role_hears_it_is_their_turn(ticket, sent) -> None:
    env = ticket.env
    await funded(ticket)
    await ticket.click("deliver", env.freelancer)
    assert pings(sent, ticket) == []
    await ticket.click("approve", env.buyer)
    (ping,) = pings(sent, ticket)
    assert "approved the work" in ping


async def test_a_turn_that_passed_before_its_dm_went_out_is_not_sent(ticket: TicketView, sent) -> None:
    """The buyer's "approve" turn waits in the outbox (Discord was slow) while they approve: it is not sent."""
    env = ticket.env
    await funded(ticket)

    async def later(_worker: EffectWorker, _changes: object) -> None:  # the effects stay in the outbox for now
        return None

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EffectWorker, "escrow_changed", later)
        await ticket.click("deliver", env.freelancer)
        # (the summary still shows the old buttons: the buyer approves through the service)
        await env.bot.runtime.escrow.act("ord_1", Action.APPROVE, actor_id=env.buyer.id, actor_role=Role.BUYER)
    await env.expire_holds()
    await env.work_effects()
    buyer = dms_to(sent, env.buyer)
    assert any("marked delivered" in dm for dm in buyer)  # the news still arrives
    assert not any("Your turn" in dm for dm in buyer[1:])  # but not a turn that is over
    assert any("approved the work" in line for line in pings(sent, ticket))  # the officers hear theirs


async def test_joining_rebuilds_the_summary_and_tells_the_officer_holding_it(env, deliver, sent) -> None:
    await deliver()
    await env.driver.command(
        "guarantee open", by=env.freelancer, channel=env.channel, email="seller@example.com",
        gig_link="https://opentaskai.com/gigs/ord_1-logo",
    )  # fmt: skip
    ticket = await env.ticket()
    await ticket.click("claim", env.officer)
    assert "not joined yet" in ticket.field("Buyer") and "/guarantee join" in ticket.next_step()
    await env.driver.command(
        "guarantee join", by=env.buyer, channel=env.channel, order_id="ord_1", email="buyer@example.com"
    )
    assert ticket.field("Buyer").startswith(env.buyer.mention)  # rebuilt whole, right after the join
    assert "/guarantee join" not in ticket.next_step() and "payment instructions" in ticket.next_step()
    (dm,) = [dm for dm in dms_to(sent, env.officer) if "Your turn" in dm]
    assert "joined the ticket as the buyer" in dm and "payment instructions" in dm
