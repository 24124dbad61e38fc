"""Money never moves on one click: release, refund and cancel (and taking a ticket over) ask first, naming
the amount and who gets it; the question's yes is bound to the order as it was when asked."""

from __future__ import annotations

import copy

import pytest

from tests.harness._tickets import BACK, TicketView, yes_of

DANGER = 4  # Discord's red button style


async def funded(ticket: TicketView) -> None:
    await ticket.click_and_write("fund", ticket.env.officer, "REF-1")


def button(result, custom_id: str) -> dict:
    return next(c for row in result.components for c in row["components"] if c["custom_id"] == custom_id)


@pytest.mark.parametrize(
    ("action", "verb", "who"),
    [("refund", "Refund", "buyer"), ("release", "Release", "freelancer")],
)
async def test_money_asks_first_naming_the_amount_and_who_gets_it(ticket: TicketView, action, verb, who) -> None:
    env = ticket.env
    await funded(ticket)
    if action == "release":
        await ticket.click("deliver", env.freelancer)
        await ticket.click("approve", env.buyer)
    before, recorded = await ticket.escrow(), [e.action for e in await ticket.audit()]
    asked = await ticket.click(action, env.officer)
    assert asked.ephemeral and asked.modal is None
    assert f"{verb} **120.50 USD** to {getattr(env, who).mention} ({'the ' + who})" in asked.content
    assert "cannot be undone" in asked.content
    yes = button(asked, yes_of(asked))
    assert yes["style"] == DANGER and "120.50 USD" in yes["label"]
    assert button(asked, f"{BACK}ord_1")["label"] == "No, go back"
    after = await ticket.escrow()  # nothing moved, nothing recorded
    assert (after.state, after.version) == (before.state, before.version)
    assert [e.action for e in await ticket.audit()] == recorded


async def test_no_go_back_does_nothing_and_says_so(ticket: TicketView) -> None:
    env = ticket.env
    await funded(ticket)
    asked = await ticket.click("refund", env.officer)
    back = await env.driver.click(asked, f"{BACK}ord_1", by=env.officer)
    assert back.response_type == 7 and "Nothing was done" in back.content and back.components == []
    assert await ticket.escrow_state() == "funded"
    assert [e.action for e in await ticket.audit()] == ["fund"]


async def test_cancel_names_both_parties_and_the_amount_and_acts_only_on_yes(ticket: TicketView, sent) -> None:
    env = ticket.env
    asked = await ticket.click("cancel", env.officer)
    for named in ("Cancel order ord_1", "**120.50 USD**", env.freelancer.mention, env.buyer.mention):
        assert named in asked.content
    assert await ticket.escrow_state() == "awaiting_funding"
    done = await ticket.answer_yes(asked, env.officer)
    assert done.response_type == 7 and "cancelled" in done.content and done.components == []  # the question is gone
    assert await ticket.escrow_state() == "cancelled" and ticket.summary_state() == "cancelled"


async def test_a_question_asked_on_an_older_state_is_refused(ticket: TicketView) -> None:
    env = ticket.env
    await funded(ticket)
    asked = await ticket.click("refund", env.officer)
    await ticket.click_and_write("dispute", env.buyer, "the files are empty")  # the order moves meanwhile
    refused = await ticket.answer_yes(asked, env.officer)
    assert refused.modal is None and "changed since you looked" in refused.content and "in dispute" in refused.content
    assert await ticket.escrow_state() == "disputed"
    assert "refund" not in [e.action for e in await ticket.audit()]


async def test_a_question_still_works_after_a_restart(ticket: TicketView) -> None:
    env = ticket.env
    await funded(ticket)
    await ticket.click("deliver", env.freelancer)
    await ticket.click("approve", env.buyer)
    asked = await ticket.click("release", env.officer)
    await env.restart()
    done = await ticket.answer_yes(asked, env.officer)
    assert "released to the freelancer" in done.content and await ticket.escrow_state() == "released"


async def test_only_whoever_may_act_gets_a_question(ticket: TicketView) -> None:
    env = ticket.env
    await funded(ticket)
    for who in (env.buyer, env.freelancer, env.outsider):
        refused = await ticket.click("refund", who)
        assert yes_of(refused) is None and refused.modal is None
        assert "Only a Guarantor Officer" in refused.content or "not part of order ord_1" in refused.content


async def test_a_second_officer_takes_a_claimed_ticket_over_only_by_saying_so(ticket: TicketView, sent) -> None:
    env = ticket.env
    added = env.add_member("second_officer", "0007")
    await added.add_roles(env.officer_role)
    second = env.member_of(env.guild, added.id)  # as an interaction carries them: with the role
    stale = copy.deepcopy(ticket.summary)  # still shows Claim, as a second officer's screen may
    await ticket.click("claim", env.officer)
    assert "guarantee:claim:ord_1" not in ticket.buttons()
    refused = await env.driver.click(stale, "guarantee:claim:ord_1", by=second)  # no silent take-over
    assert env.officer.mention in refused.content and "Take over" in refused.content
    assert ticket.field("Guarantor Officer") == env.officer.mention

    asked = await ticket.click("take_over", second)
    assert "Take over the ticket of order ord_1" in asked.content and env.officer.mention in asked.content
    assert "will be told" in asked.content and ticket.field("Guarantor Officer") == env.officer.mention
    done = await ticket.answer_yes(asked, second)
    assert "You took over order ord_1" in done.content
    assert ticket.field("Guarantor Officer") == second.mention
    assert any("took over this ticket from" in line and env.officer.mention in line for line in ticket.lines())
    # the first officer hears it, by DM
    dms = [p["content"] for cid, p in sent if env.officer.dm_channel and cid == env.officer.dm_channel.id]
    assert any("took over this ticket from you" in dm for dm in dms)
    (entry,) = [e for e in await ticket.audit() if e.action == "take_over"]
    assert (entry.actor, entry.role) == (str(second.id), "officer")
