"""The escrow's buttons in the ticket, through discord.py's real dispatch."""

from __future__ import annotations

from tests.harness._tickets import TicketView


async def test_the_summary_carries_the_controls_for_awaiting_funding(ticket: TicketView) -> None:
    assert ticket.buttons() == ["guarantee:fund:ord_1", "guarantee:cancel:ord_1", "guarantee:claim:ord_1"]
    assert ticket.escrow_field() == "Waiting for payment"
    assert ticket.summary_state() == "awaiting_funding"


async def test_an_officer_funds_with_a_payment_reference_and_the_ticket_follows(ticket: TicketView) -> None:
    env = ticket.env
    shown = await ticket.click("fund", env.officer)
    assert shown.modal is not None and shown.modal["title"] == "Confirm payment received"  # the button's own words
    done = await env.driver.submit_modal(shown, {"note": "BANK-REF-77"}, by=env.officer)
    assert done.ephemeral and "held in escrow" in done.content and "120.50 USD" in done.content, done.content
    assert (await ticket.escrow()).state == "funded"
    assert ticket.escrow_field() == "Payment held in escrow" and ticket.summary_state() == "funded"
    assert "guarantee:deliver:ord_1" in ticket.buttons() and "guarantee:fund:ord_1" not in ticket.buttons()
    (line,) = [line for line in ticket.lines() if "BANK-REF-77" in line]
    assert "Payment received" in line and "120.50 USD" in line and "> BANK-REF-77" in line


async def test_a_claimed_ticket_offers_take_over_instead_of_claim(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click("claim", env.officer)
    assert "guarantee:take_over:ord_1" in ticket.buttons() and "guarantee:claim:ord_1" not in ticket.buttons()
    assert ticket.field("Guarantor Officer") == env.officer.mention
