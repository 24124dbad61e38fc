"""The escrow's buttons in the ticket, through discord.py's real dispatch."""

from __future__ import annotations

from tests.harness._tickets import TicketView


async def test_the_summary_carries_the_controls_for_awaiting_funding(ticket: TicketView) -> None:
    assert ticket.buttons() == ["guarantee:fund:ord_1", "guarantee:cancel:ord_1", "guarantee:claim:ord_1"]
    assert ticket.escrow_field() == "awaiting funding"


async def test_an_officer_funds_with_a_payment_reference_and_the_ticket_follows(ticket: TicketView) -> None:
    env = ticket.env
    done = await ticket.click_and_write("fund", env.officer, "BANK-REF-77")
    assert done.ephemeral and "now funded" in done.content, done.content
    assert (await ticket.escrow()).state == "funded"
    assert ticket.escrow_field() == "funded"
    assert "guarantee:deliver:ord_1" in ticket.buttons() and "guarantee:fund:ord_1" not in ticket.buttons()
    assert any("awaiting funding → **funded**" in line and "BANK-REF-77" in line for line in ticket.lines())
