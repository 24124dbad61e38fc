"""The summary shows who is on the ticket as it is now, and no party's name or email in full."""

from __future__ import annotations

from tests.cogs.tickets.conftest import open_ticket, ticket_channels
from tests.harness._recorder import Reply


def field(summary: dict, name: str) -> str:
    (embed,) = Reply(summary, False).embeds
    return next(f.value for f in embed.fields if f.name == name)


async def test_the_summary_shows_the_buyer_once_they_joined(env, deliver):
    await deliver()
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    assert field(env.messages(channel)[0], "Buyer").startswith("not joined yet")
    await env.driver.command(
        "guarantee join", by=env.buyer, channel=env.channel, order_id="ord_1", email="buyer@example.com"
    )
    buyer = field(env.messages(channel)[0], "Buyer")
    assert buyer.startswith(f"<@{env.buyer.id}>") and "not joined" not in buyer


async def test_the_summary_still_shows_the_buyer_after_funding(ticket):
    await ticket.click_and_write("fund", ticket.env.officer, "PAY-1")
    assert field(ticket.summary, "Buyer").startswith(f"<@{ticket.env.buyer.id}>")


async def test_a_name_that_is_an_email_is_masked(env, deliver):
    await deliver(seller={"email": "seller@example.com", "name": "sam.private@gmail.com"},
                  buyer={"email": "buyer@example.com", "name": "Bo (bo.b@corp.example)"})  # fmt: skip
    await open_ticket(env)
    (channel,) = ticket_channels(env)
    summary = env.messages(channel)[0]
    assert field(summary, "Freelancer") == f"<@{env.freelancer.id}>\ns***@g***.com (s***@e***.com)"
    assert field(summary, "Buyer") == "not joined yet\nBo (b***@c***.example) (b***@e***.com)"
    assert "the buyer (Bo (b***@c***.example)) runs" in summary["embeds"][0]["description"]  # the Next block too
    assert "private" not in str(summary) and "bo.b@" not in str(summary)


async def test_without_a_mail_server_the_officers_see_emails_were_only_compared(ticket):
    checks = field(ticket.summary, "Checks")
    assert "Freelancer's email matched, not proven (s***@e***.com)" in checks
    assert "Buyer's email matched, not proven (b***@e***.com)" in checks and "proven with" not in checks
