"""`order.completed` counts as the buyer's approval only when it arrives after delivery (PRODUCT.md §4); one that
arrives earlier is recorded and flagged to officers, nothing more, and never counts later. Driven by signed
webhooks through the bot's webhook app and processor."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import Order
from tests.harness._tickets import TicketView
from tests.webhooks.events import event


def completed(at: str = "2026-11-27T10:00:00+00:00") -> dict[str, object]:
    return event("order.completed", {"order_id": "ord_1", "completed_at": at})


async def completed_at(ticket: TicketView):
    async with ticket.env.bot.runtime.sessions() as session:
        return (await session.scalars(select(Order).where(Order.id == "ord_1"))).one().completed_at  # type: ignore[arg-type]


async def release_needs_an_override(ticket: TicketView) -> None:
    env = ticket.env
    shown = await ticket.answer_yes(await ticket.click("release", env.officer), env.officer)
    assert shown.modal is not None and shown.modal["title"] == "Release without the buyer's approval"


async def test_a_completion_while_the_payment_is_held_is_flagged_and_is_no_approval(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "PAY-1")
    await env.deliver(completed())

    assert await ticket.escrow_state() == "funded" and (await ticket.escrow()).approved_at is None
    assert await completed_at(ticket) is not None  # recorded on the order
    flag = ticket.lines()[-1]
    assert flag.startswith(env.officer_role.mention) and "does not count as the buyer's approval" in flag
    assert [e.action for e in await ticket.audit()][-1] == "flag"

    await ticket.click("deliver", env.freelancer)
    assert ticket.escrow_field() == "Work delivered"  # no "buyer approved the work"
    await release_needs_an_override(ticket)


async def test_a_completion_before_payment_never_counts_as_approval(ticket: TicketView) -> None:
    env = ticket.env
    await env.deliver(completed())
    assert "reports the order completed, but no payment is held" in ticket.lines()[-1]
    await ticket.click_and_write("fund", env.officer, "PAY-1")
    await ticket.click("deliver", env.freelancer)
    assert ticket.escrow_field() == "Work delivered" and (await ticket.escrow()).approved_at is None
    await release_needs_an_override(ticket)


async def test_a_completion_after_delivery_is_the_buyers_approval(ticket: TicketView) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "PAY-1")
    await env.deliver(completed("2026-11-26T10:00:00+00:00"))  # early: flagged
    await ticket.click("deliver", env.freelancer)
    await env.deliver(completed())  # after delivery: it counts
    assert ticket.escrow_field() == "Work delivered · buyer approved the work"
    assert (await ticket.escrow()).approved_by == "marketplace"
    asked = await ticket.click("release", env.officer)
    done = await ticket.answer_yes(asked, env.officer)  # no form: the approval is on record
    assert done.modal is None and "released to the freelancer" in done.content, done.content
