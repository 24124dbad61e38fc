"""A note form is bound to the escrow as it was when opened: a state change meanwhile refuses it."""

from __future__ import annotations

from tests.harness._tickets import TicketView


async def test_an_override_release_form_does_not_resolve_a_dispute_opened_meanwhile(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF-1")
    await ticket.click("deliver", env.freelancer)
    shown = await ticket.answer_yes(await ticket.click("release", env.officer), env.officer)
    assert shown.modal is not None and shown.modal["title"] == "Release without the buyer's approval"
    await ticket.click_and_write("dispute", env.buyer, "the files are empty")
    assert (await ticket.escrow()).state == "disputed"

    refused = await env.driver.submit_modal(shown, {"note": "buyer confirmed on a call"}, by=env.officer)

    assert refused.ephemeral and "changed since you looked" in refused.content, refused.content
    assert "in dispute" in refused.content
    assert (await ticket.escrow()).state == "disputed"
    assert "release" not in [e.action for e in await ticket.audit()]
    resolved = await ticket.click_and_write("release", env.officer, "files re-sent and checked")
    assert "released to the freelancer" in resolved.content, resolved.content


async def test_a_refund_reason_form_does_not_resolve_a_dispute_opened_meanwhile(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF-1")
    shown = await ticket.answer_yes(await ticket.click("refund", env.officer), env.officer)
    assert shown.modal is not None and shown.modal["title"] == "Refund the buyer"
    await ticket.click_and_write("dispute", env.buyer, "nothing arrived")

    refused = await env.driver.submit_modal(shown, {"note": "seller asked to cancel"}, by=env.officer)

    assert refused.ephemeral and "changed since you looked" in refused.content, refused.content
    assert (await ticket.escrow()).state == "disputed"
    assert "refund" not in [e.action for e in await ticket.audit()]


async def test_a_form_submitted_on_an_unchanged_escrow_still_acts(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "REF-1")
    shown = await ticket.answer_yes(await ticket.click("refund", env.officer), env.officer)
    done = await env.driver.submit_modal(shown, {"note": "seller asked to cancel"}, by=env.officer)
    assert "refunded to the buyer" in done.content, done.content
    assert (await ticket.audit())[-1].note == "seller asked to cancel"
