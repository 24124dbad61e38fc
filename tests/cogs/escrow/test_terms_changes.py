"""New terms before funding (PRODUCT.md §4): nobody acts on terms they have not seen. Driven by signed
`order.updated` webhooks through the bot's real webhook app and processor, and the fake Discord."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import DiscordEffect, Order, Ticket
from bot.services.events.terms import terms_digest
from bot.services.tickets import reseat
from bot.services.tickets.joining import JoinFlow
from tests.harness import _faults as routes
from tests.harness._tickets import TicketView, yes_of
from tests.webhooks.events import event, terms

LATER = "2026-11-25T11:00:00+00:00"
GIG = "https://opentaskai.com/gigs/ord_1-logo"


def updated(**changes: object) -> dict[str, object]:
    return event("order.updated", terms("ord_1", agreed_at=LATER, **changes))


def pings(sent, ticket: TicketView) -> list[dict]:
    """The payloads in the ticket that ping the officer role (and nobody else)."""
    role = ticket.env.officer_role
    return [
        p
        for cid, p in sent
        if cid == ticket.channel.id and role.id in [int(r) for r in (p.get("allowed_mentions") or {}).get("roles", [])]
    ]


def dms_to(sent, member) -> list[str]:
    channel = member.dm_channel
    return [p.get("content", "") for cid, p in sent if channel is not None and cid == channel.id]


async def row(env, model, order_id: str = "ord_1"):
    async with env.bot.runtime.sessions() as session:
        return (await session.scalars(select(model).where(model.order_id == order_id))).one()  # type: ignore[attr-defined]


async def order_row(env) -> Order:
    async with env.bot.runtime.sessions() as session:
        return (await session.scalars(select(Order).where(Order.id == "ord_1"))).one()  # type: ignore[arg-type]


def can_see(env, ticket: TicketView, member) -> bool:
    channel = env.bot.get_channel(ticket.channel.id)
    overwrites = {target.id for target in channel.overwrites}
    return member.id in overwrites


async def test_a_payment_form_opened_on_the_old_amount_is_refused_after_the_terms_changed(ticket, sent) -> None:
    env = ticket.env
    shown = await ticket.click("fund", env.officer)  # the form opened on 120.50 USD
    assert shown.modal is not None and shown.modal["title"] == "Confirm payment received"
    version = (await ticket.escrow()).version

    await env.deliver(updated(amount="9999.00"))

    escrow = await ticket.escrow()
    assert escrow.version == version + 1 and escrow.terms_changed_version == version + 1
    refused = await env.driver.submit_modal(shown, {"note": "PAY-1"}, by=env.officer)
    assert refused.ephemeral and "terms changed since you opened this" in refused.content, refused.content
    assert "summary" in refused.content and "try again" in refused.content
    assert (await ticket.escrow()).state == "awaiting_funding"
    assert ticket.field("Amount") == "9999.00 USD"  # the summary shows the new terms
    assert "changed this order's terms" in ticket.summary["embeds"][0]["description"]
    (ping,) = pings(sent, ticket)
    assert ping["content"].startswith(env.officer_role.mention)
    assert "**Amount**: now 9999.00 USD (was 120.50 USD)" in ping["content"]
    mentions = ping["allowed_mentions"]
    assert mentions.get("users", []) == [] and mentions.get("parse", []) == []  # only the officer role

    done = await ticket.click_and_write("fund", env.officer, "PAY-2")  # opened on the new terms: it acts
    assert "9999.00 USD" in done.content and await ticket.escrow_state() == "funded"


async def test_the_terms_change_is_an_audit_entry_holding_both_digests(ticket) -> None:
    env = ticket.env
    before = await order_row(env)
    old = terms_digest(before)
    await env.deliver(updated(amount="130.00", deliverables="A vector logo in four colours"))
    after = await order_row(env)
    new = terms_digest(after)
    assert old != new and (after.amount, after.terms_version) == (130, 2)
    entry = (await ticket.audit())[-1]
    assert (entry.action, entry.actor, entry.role) == ("terms", "marketplace", "marketplace")
    assert (entry.from_state, entry.to_state) == ("awaiting_funding", "awaiting_funding")
    assert entry.note == f"terms sha256 was {old}, now {new}"
    line = ticket.lines()[-1]
    assert "**Deliverables** were:\n> A vector logo in three colours\nnow:\n> A vector logo in four colours" in line


async def test_a_cancel_question_asked_on_the_old_terms_is_refused(ticket) -> None:
    env = ticket.env
    asked = await ticket.click("cancel", env.officer)
    assert yes_of(asked) is not None
    await env.deliver(updated(delivery_due="2026-12-08T17:00:00+02:00"))
    refused = await ticket.answer_yes(asked, env.officer)
    assert "terms changed since you opened this" in refused.content, refused.content
    assert await ticket.escrow_state() == "awaiting_funding"
    assert "**Delivery due**: now <t:" in ticket.lines()[-1]


async def test_new_terms_that_are_the_same_change_nothing(ticket, sent) -> None:
    env = ticket.env
    shown = await ticket.click("fund", env.officer)
    escrow, lines, entries = await ticket.escrow(), ticket.lines(), await ticket.audit()
    await env.deliver(updated(seller={"email": "SELLER@example.com", "name": "Sam S."}))  # same terms
    assert (await ticket.escrow()).version == escrow.version
    assert ticket.lines() == lines and await ticket.audit() == entries and pings(sent, ticket) == []
    done = await env.driver.submit_modal(shown, {"note": "PAY-1"}, by=env.officer)
    assert "held in escrow" in done.content, done.content


async def test_a_changed_buyer_email_takes_the_buyer_out_until_they_verify_again(ticket, sent) -> None:
    env = ticket.env
    assert can_see(env, ticket, env.buyer)
    await env.deliver(updated(buyer={"email": "new.buyer@example.com", "name": "Bo Buyer"}))

    assert not can_see(env, ticket, env.buyer) and can_see(env, ticket, env.freelancer)
    assert (await row(env, Ticket)).buyer_id is None
    (dm,) = dms_to(sent, env.buyer)
    assert "buyer's email" in dm and "/guarantee join order_id:ord_1" in dm and "Automatic notice" in dm
    line = ticket.lines()[-1]
    assert "**Buyer's email**: now n***@e***.com (was b***@e***.com)" in line, line
    assert all("new.buyer@example.com" not in p.get("content", "") for _cid, p in sent)  # masked everywhere
    assert ticket.field("Buyer").startswith("not joined yet")
    refused = await ticket.click("fund", env.officer)  # nobody can tell the officer is not the buyer now
    assert "has not joined" in refused.content

    old = await env.driver.command(
        "guarantee join", by=env.buyer, channel=env.channel, order_id="ord_1", email="buyer@example.com"
    )
    assert "Email check failed" in old.content
    joined = await env.driver.command(
        "guarantee join", by=env.buyer, channel=env.channel, order_id="ord_1", email="new.buyer@example.com"
    )
    assert "joined the ticket of order ord_1" in joined.content, joined.content
    assert can_see(env, ticket, env.buyer) and (await row(env, Ticket)).buyer_id == env.buyer.id


async def test_a_buyer_with_closed_dms_is_told_in_the_ticket_before_being_taken_out(ticket) -> None:
    env = ticket.env
    env.close_dms(env.buyer)
    await env.deliver(updated(buyer={"email": "buyer2@example.com"}))  # masked, it reads like the old one
    assert any("**Buyer's email**: now another address (both show as b***@e***.com)" in x for x in ticket.lines())
    told = [line for line in ticket.lines() if line.startswith(env.buyer.mention) and "could not DM" in line]
    assert len(told) == 1 and "/guarantee join" in told[0]
    assert not can_see(env, ticket, env.buyer)


async def test_a_changed_freelancer_email_needs_the_new_freelancer_to_prove_it(ticket, sent) -> None:
    env = ticket.env
    await env.deliver(updated(seller={"email": "agency@example.com", "name": "Sam's Agency"}))

    assert not can_see(env, ticket, env.freelancer)
    saved = await row(env, Ticket)
    assert saved.freelancer_unverified and saved.freelancer_id == env.freelancer.id
    (dm,) = dms_to(sent, env.freelancer)
    assert "freelancer's email" in dm and "/guarantee open" in dm
    assert "must verify again with `/guarantee open`" in ticket.summary["embeds"][0]["description"]
    assert ticket.field("Freelancer").startswith("not joined yet")
    assert "Freelancer's email" not in ticket.field("Checks")  # nobody proved the new one yet
    assert env.freelancer.mention not in ticket.next_step().split("\n")[0]  # the Next block itself

    stale = await env.driver.command(
        "guarantee open", by=env.freelancer, channel=env.channel, email="seller@example.com", gig_link=GIG
    )
    assert "could not open a ticket for this email" in stale.content and not can_see(env, ticket, env.freelancer)

    newcomer = env.add_member("agency", "0042")
    back = await env.driver.command(
        "guarantee open", by=newcomer, channel=env.channel, email="agency@example.com", gig_link=GIG
    )
    assert "You are now the freelancer of order ord_1" in back.content, back.content
    assert can_see(env, ticket, newcomer)
    saved = await row(env, Ticket)
    assert (saved.freelancer_id, saved.freelancer_unverified) == (newcomer.id, False)
    assert newcomer.mention in ticket.field("Freelancer")
    assert any(line.startswith(f"{newcomer.mention} joined as the freelancer") for line in ticket.lines())

    await ticket.click_and_write("fund", env.officer, "PAY-1")
    delivered = await ticket.click("deliver", newcomer)  # the new freelancer acts; the old one is nobody here
    assert "marked delivered" in delivered.content, delivered.content


async def test_new_terms_before_the_ticket_exists_are_only_recorded(discord_env, sent) -> None:
    env = discord_env
    await env.agree_order()
    await env.deliver(updated(amount="200.00", buyer={"email": "b2@example.com"}))
    assert sent == []  # no ticket: nothing to post
    opened = await env.driver.command(
        "guarantee open", by=env.freelancer, channel=env.channel, email="seller@example.com", gig_link=GIG
    )
    assert "is open" in opened.content
    ticket = await env.ticket()
    assert ticket.field("Amount") == "200.00 USD"
    assert [e.action for e in await ticket.audit()] == ["terms"]


async def test_new_terms_after_funding_are_recorded_and_flagged_not_applied(ticket, sent) -> None:
    env = ticket.env
    await ticket.click_and_write("fund", env.officer, "PAY-1")
    version = (await ticket.escrow()).version
    await env.deliver(updated(amount="5.00", buyer={"email": "other@example.com"}))
    assert ticket.field("Amount") == "120.50 USD" and (await order_row(env)).amount == 120.5
    assert (await ticket.escrow()).version == version
    assert can_see(env, ticket, env.buyer) and (await row(env, Ticket)).buyer_id == env.buyer.id
    flag = ticket.lines()[-1]
    assert "New terms arrived after the payment was put in escrow" in flag
    assert pings(sent, ticket)[-1]["content"] == flag
    assert [e.action for e in await ticket.audit()][-1] == "flag"


async def test_a_join_checked_against_the_old_buyer_email_is_refused_if_new_terms_land_first(
    ticket, monkeypatch
) -> None:
    """The email is compared, then the terms change, then the buyer would be seated: the seat is refused."""
    env = ticket.env
    await env.deliver(updated(buyer={"email": "new.buyer@example.com"}))  # the buyer is out; the seat is empty
    claim = JoinFlow._claim_buyer

    async def terms_land_meanwhile(self, *args, **kwargs):
        monkeypatch.setattr(JoinFlow, "_claim_buyer", claim)
        later = terms("ord_1", agreed_at="2026-11-25T12:00:00+00:00", buyer={"email": "third@example.com"})
        await env.deliver(event("order.updated", later))
        return await claim(self, *args, **kwargs)

    monkeypatch.setattr(JoinFlow, "_claim_buyer", terms_land_meanwhile)
    refused = await env.driver.command(
        "guarantee join", by=env.buyer, channel=env.channel, order_id="ord_1", email="new.buyer@example.com"
    )
    assert "Email check failed" in refused.content, refused.content
    assert (await row(env, Ticket)).buyer_id is None and not can_see(env, ticket, env.buyer)


async def test_the_same_new_terms_sent_twice_change_things_once(ticket, sent) -> None:
    env = ticket.env
    await env.deliver(updated(amount="130.00"))
    version = (await ticket.escrow()).version
    await env.deliver(updated(amount="130.00"))  # another delivery of the same update (a new webhook id)
    assert (await ticket.escrow()).version == version
    assert [e.action for e in await ticket.audit()] == ["terms"] and len(pings(sent, ticket)) == 1


async def test_a_ticket_channel_deleted_by_hand_leaves_nothing_to_remove(ticket, sent) -> None:
    env = ticket.env
    await env.delete_channel_by_hand(ticket.channel)
    await env.deliver(updated(buyer={"email": "new.buyer@example.com"}))  # the effects find no channel: dropped
    await env.expire_holds()
    await env.work_effects()
    assert (await row(env, Ticket)).buyer_id is None
    async with env.bot.runtime.sessions() as session:
        kinds = {
            effect.kind: effect.status
            for effect in (await session.scalars(select(DiscordEffect).where(DiscordEffect.order_id == "ord_1"))).all()  # type: ignore[arg-type]
        }
    assert kinds["party.remove"] == "dropped"


async def test_an_open_checked_against_an_email_that_changed_again_meanwhile_seats_nobody(ticket, monkeypatch) -> None:
    env = ticket.env
    await env.deliver(updated(seller={"email": "agency@example.com"}))
    seat = reseat._seat

    async def terms_land_meanwhile(*args, **kwargs):
        monkeypatch.setattr(reseat, "_seat", seat)
        later = terms("ord_1", agreed_at="2026-11-25T12:00:00+00:00", seller={"email": "third@example.com"})
        await env.deliver(event("order.updated", later))
        return await seat(*args, **kwargs)

    monkeypatch.setattr(reseat, "_seat", terms_land_meanwhile)
    newcomer = env.add_member("agency", "0043")
    refused = await env.driver.command(
        "guarantee open", by=newcomer, channel=env.channel, email="agency@example.com", gig_link=GIG
    )
    assert "Email check failed" in refused.content, refused.content
    saved = await row(env, Ticket)
    assert saved.freelancer_unverified and saved.freelancer_id == env.freelancer.id
    assert not can_see(env, ticket, newcomer)


async def test_a_new_freelancer_discord_would_not_let_in_is_not_seated(ticket) -> None:
    env = ticket.env
    await env.deliver(updated(seller={"email": "agency@example.com"}))
    newcomer = env.add_member("agency", "0044")
    env.faults.fail(routes.EDIT_PERMISSIONS, 403)
    refused = await env.driver.command(
        "guarantee open", by=newcomer, channel=env.channel, email="agency@example.com", gig_link=GIG
    )
    assert refused.ephemeral and "Manage Roles" in refused.content, refused.content
    saved = await row(env, Ticket)
    assert saved.freelancer_unverified and saved.freelancer_id == env.freelancer.id  # undone: try again later
    back = await env.driver.command(
        "guarantee open", by=newcomer, channel=env.channel, email="agency@example.com", gig_link=GIG
    )
    assert "You are now the freelancer of order ord_1" in back.content, back.content


async def test_a_removal_discord_refused_for_now_is_retried_without_telling_the_party_twice(ticket, sent) -> None:
    env = ticket.env
    env.faults.fail(routes.DELETE_PERMISSIONS, 503, times=50)
    await env.deliver(updated(buyer={"email": "new.buyer@example.com"}))
    assert can_see(env, ticket, env.buyer) and len(dms_to(sent, env.buyer)) == 1  # told; not out yet
    env.faults.clear()
    await env.expire_holds()
    await env.work_effects()
    assert not can_see(env, ticket, env.buyer) and len(dms_to(sent, env.buyer)) == 1
