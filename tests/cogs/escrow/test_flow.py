"""A whole deal through the buttons: the summary, the channel, DMs to whoever acts next."""

from __future__ import annotations

import asyncio

from tests.harness import _faults as routes
from tests.harness._tickets import TicketView, yes_of
from tests.webhooks.events import event


def dms_to(env, sent, member) -> list[str]:
    channel = member.dm_channel
    return [p.get("content", "") for cid, p in sent if channel is not None and cid == channel.id]


async def test_a_deal_from_funding_to_release(ticket: TicketView, sent) -> None:
    env = ticket.env
    await ticket.click("claim", env.officer)
    assert ticket.field("Guarantor Officer") == env.officer.mention
    await ticket.click_and_write("fund", env.officer, "REF-1")
    assert any("Mark delivered" in text for text in dms_to(env, sent, env.freelancer))
    await ticket.click("deliver", env.freelancer)
    assert any("Approve the work" in text for text in dms_to(env, sent, env.buyer))
    assert not any("Release payment" in text for text in dms_to(env, sent, env.officer))  # not their turn yet
    approved = await ticket.click("approve", env.buyer)
    assert "approval" in approved.content
    assert "buyer approved the work" in ticket.escrow_field()
    # the officer who claimed it hears it is their turn, once, now that it is
    assert sum("Release payment" in text for text in dms_to(env, sent, env.officer)) == 1
    asked = await ticket.click("release", env.officer)  # approved: no override reason asked, but a question
    assert asked.modal is None and "120.50 USD" in asked.content and env.freelancer.mention in asked.content
    released = await ticket.answer_yes(asked, env.officer)
    assert "released to the freelancer" in released.content and ticket.summary_state() == "released"
    assert ticket.buttons() == ["guarantee:close:ord_1"]  # terminal: only closing is left
    assert [e.action for e in await ticket.audit()] == ["claim", "fund", "deliver", "approve", "release"]
    lines = ticket.lines()
    assert any("claimed this ticket" in line for line in lines)
    assert any("120.50 USD released to the freelancer" in line for line in lines)


async def test_release_without_approval_asks_for_an_override_reason(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF-1")
    await ticket.click("deliver", env.freelancer)
    done = await ticket.click_and_write("release", env.officer, "buyer confirmed on a call")
    assert "released to the freelancer" in done.content
    assert (await ticket.audit())[-1].note == "buyer confirmed on a call"


async def test_a_dispute_and_its_resolution(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF-1")
    await ticket.click_and_write("dispute", env.buyer, "nothing arrived")
    assert ticket.summary_state() == "disputed" and ticket.escrow_field() == "In dispute"
    labels = [c["label"] for row in ticket.summary["components"] for c in row["components"]]
    assert labels == ["Resolve: release to freelancer", "Resolve: refund buyer", "Claim"]
    done = await ticket.click_and_write("refund", env.officer, "no proof of delivery")
    assert "refunded to the buyer" in done.content


async def test_closed_dms_fall_back_to_a_mention_in_the_ticket(ticket: TicketView, sent) -> None:
    env = ticket.env
    env.close_dms(env.freelancer)
    await ticket.click_and_write("fund", env.officer, "REF-1")
    fallback = [p for cid, p in sent if cid == ticket.channel.id and "could not DM" in p.get("content", "")]
    assert len(fallback) == 1
    assert fallback[0]["content"].startswith(f"<@{env.freelancer.id}>")
    assert fallback[0]["allowed_mentions"]["users"] == [str(env.freelancer.id)] or fallback[0]["allowed_mentions"][
        "users"
    ] == [env.freelancer.id]


async def test_user_text_in_notes_pings_nobody(ticket: TicketView, sent) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "@everyone <@&1> pay now")
    line = next(p for cid, p in sent if cid == ticket.channel.id and "pay now" in p.get("content", ""))
    assert line["allowed_mentions"] == {"parse": []}


async def test_a_summary_edit_that_fails_still_records_the_transition(ticket: TicketView) -> None:
    env = ticket.env
    env.faults.fail(routes.EDIT_MESSAGE, 403)
    done = await ticket.click_and_write("fund", env.officer, "REF-1")
    assert "held in escrow" in done.content
    assert (await ticket.escrow()).state == "funded"
    assert any("Payment received" in line for line in ticket.lines())


async def test_two_officers_at_once_give_one_release_and_one_already_done(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF-1")
    await ticket.click("deliver", env.freelancer)
    await ticket.click("approve", env.buyer)
    asked = [await ticket.click("release", env.officer) for _ in range(2)]  # two questions, asked on one state
    yes = [yes_of(question) for question in asked]
    assert yes[0] is not None and yes[0] == yes[1]
    first = await env.driver.click(asked[0], yes[0], by=env.officer, wait=False)
    second = await env.driver.click(asked[1], yes[1], by=env.officer, wait=False)
    await asyncio.gather(first.wait(), second.wait())
    answers = sorted([first.content, second.content])
    assert sum("released to the freelancer for order" in a for a in answers) == 1
    assert sum("already released" in a for a in answers) == 1
    assert [e.action for e in await ticket.audit()].count("release") == 1


async def test_marketplace_events_move_the_ticket_and_flags_ping_the_officers(
    ticket: TicketView, deliver, sent
) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF-1")
    await deliver(event("order.delivered", {"order_id": "ord_1", "delivered_at": "2026-11-26T10:00:00+00:00"}))
    assert ticket.summary_state() == "delivered"
    assert any("The marketplace reports the work delivered" in line for line in ticket.lines())
    await deliver(event("order.cancelled", {"order_id": "ord_1", "reason": "buyer left"}))
    flag = next(p for cid, p in sent if cid == ticket.channel.id and "⚠️" in p.get("content", ""))
    assert flag["content"].startswith(env.officer_role.mention)
    assert flag["allowed_mentions"]["roles"] == [env.officer_role.id] or flag["allowed_mentions"]["roles"] == [
        str(env.officer_role.id)
    ]
    assert (await ticket.escrow()).state == "delivered"


async def test_buttons_work_after_a_restart(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF-1")
    await env.restart()
    done = await ticket.click("deliver", env.freelancer)
    assert "marked delivered" in done.content, done.content
